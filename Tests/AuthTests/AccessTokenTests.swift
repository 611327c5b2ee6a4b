import Foundation
import Auth
import RPCCore
import Synchronization
import Testing

@Suite("Access tokens")
struct AccessTokenTests {
  let key = Ed25519SigningKey()
  let now: Int64 = 1_800_000_000

  var keys: StaticVerificationKeys { StaticVerificationKeys(["k1": self.key.publicKey]) }

  func claims(expiresIn: Int64 = 600) -> AccessTokenClaims {
    AccessTokenClaims(
      issuer: "identity", subject: "user-1", tenantID: "tenant-a", role: .editor,
      issuedAt: self.now, expiresAt: self.now + expiresIn, tokenID: "jti-1")
  }

  @Test func aSignedTokenVerifiesToItsClaims() async throws {
    let token = AccessToken.sign(self.claims(), keyID: "k1", key: self.key)
    #expect(token.split(separator: ".").count == 3)
    let verified = try await AccessToken.verify(token, keys: self.keys, now: self.now + 10)
    #expect(verified == self.claims())
    #expect(verified.caller == Caller(tenantID: "tenant-a", subject: "user-1", role: .editor, kind: .user))
  }

  @Test func anExpiredTokenIsRefusedAfterTheLeeway() async throws {
    let token = AccessToken.sign(self.claims(expiresIn: 60), keyID: "k1", key: self.key)
    _ = try await AccessToken.verify(token, keys: self.keys, now: self.now + 80, leeway: 30)
    await expectUnauthenticated("expired") {
      _ = try await AccessToken.verify(token, keys: self.keys, now: self.now + 91, leeway: 30)
    }
  }

  @Test func aTamperedPayloadOrSignatureIsRefused() async throws {
    let token = AccessToken.sign(self.claims(), keyID: "k1", key: self.key)
    let parts = token.split(separator: ".").map(String.init)
    var admin = self.claims()
    admin.role = .admin
    let forged = AccessToken.sign(admin, keyID: "k1", key: Ed25519SigningKey())
    let forgedPayload = forged.split(separator: ".").map(String.init)[1]
    await expectUnauthenticated("signature") {
      _ = try await AccessToken.verify(
        [parts[0], forgedPayload, parts[2]].joined(separator: "."), keys: self.keys, now: self.now)
    }
    await expectUnauthenticated("signature") {
      _ = try await AccessToken.verify(forged, keys: self.keys, now: self.now)
    }
    await expectUnauthenticated("malformed") {
      _ = try await AccessToken.verify(parts[0] + "." + parts[1], keys: self.keys, now: self.now)
    }
  }

  @Test func algorithmNoneAndUnknownKeysAreRefused() async throws {
    let header = Base64URL.encode(Array(#"{"alg":"none","kid":"k1"}"#.utf8))
    let payload = AccessToken.sign(self.claims(), keyID: "k1", key: self.key).split(separator: ".")[1]
    await expectUnauthenticated("EdDSA") {
      _ = try await AccessToken.verify("\(header).\(payload).", keys: self.keys, now: self.now)
    }
    let other = AccessToken.sign(self.claims(), keyID: "k2", key: self.key)
    await expectUnauthenticated("unknown key") {
      _ = try await AccessToken.verify(other, keys: self.keys, now: self.now)
    }
  }

  @Test func staticKeysParseFromConfigurationText() throws {
    let text = "k1=\(Base64URL.encode(self.key.publicKey)), k2=\(Base64URL.encode(Ed25519SigningKey().publicKey))"
    let parsed = try StaticVerificationKeys(parsing: text)
    #expect(parsed.keys["k1"] == self.key.publicKey)
    #expect(parsed.keys.count == 2)
    #expect(throws: StaticVerificationKeys.ParseError.self) { try StaticVerificationKeys(parsing: "k1") }
    #expect(throws: StaticVerificationKeys.ParseError.self) { try StaticVerificationKeys(parsing: "k1=AAAA") }
  }

  @Test func cachedKeysRefetchForAnUnknownKeyAtMostOncePerInterval() async throws {
    let rotated = Ed25519SigningKey()
    let published = Published(["k1": self.key.publicKey])
    let cache = CachedVerificationKeys(minimumRefetchInterval: .seconds(2)) { await published.snapshot }
    #expect(try await cache.publicKey(forKeyID: "k1") == self.key.publicKey)
    #expect(await published.fetches == 1)
    // A key published just after a fetch is not fetched again within the interval, nor are
    // made-up key ids.
    await published.set(["k1": self.key.publicKey, "k2": rotated.publicKey])
    #expect(try await cache.publicKey(forKeyID: "k2") == nil)
    for index in 0..<50 { _ = try await cache.publicKey(forKeyID: "bogus-\(index)") }
    #expect(await published.fetches == 1)
    // After the interval, the first token naming the new key fetches once.
    try await Task.sleep(for: .milliseconds(2100))
    #expect(try await cache.publicKey(forKeyID: "k2") == rotated.publicKey)
    #expect(try await cache.publicKey(forKeyID: "k1") == self.key.publicKey)
    #expect(await published.fetches == 2)
  }

  @Test func concurrentFirstLookupsAllWaitForTheFirstFetch() async throws {
    let published = Published(["k1": self.key.publicKey])
    let cache = CachedVerificationKeys {
      try await Task.sleep(for: .milliseconds(100))
      return await published.snapshot
    }
    let found = try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
      for _ in 0..<8 { group.addTask { try await cache.publicKey(forKeyID: "k1") } }
      var found: [[UInt8]?] = []
      for try await key in group { found.append(key) }
      return found
    }
    #expect(found.allSatisfy { $0 == self.key.publicKey })
    #expect(await published.fetches == 1)
  }

  @Test func cachedKeysKeepServingWhenThePublisherIsDown() async throws {
    let published = Published(["k1": self.key.publicKey])
    let cache = CachedVerificationKeys(minimumRefetchInterval: .zero, maximumAge: .zero) {
      try await published.snapshotOrFail()
    }
    #expect(try await cache.publicKey(forKeyID: "k1") == self.key.publicKey)
    await published.fail()
    #expect(try await cache.publicKey(forKeyID: "k1") == self.key.publicKey)
    let empty = CachedVerificationKeys { try await published.snapshotOrFail() }
    await #expect(throws: (any Error).self) { try await empty.publicKey(forKeyID: "k1") }
  }
}

actor Published {
  private(set) var keys: [String: [UInt8]]
  private(set) var fetches = 0

  init(_ keys: [String: [UInt8]]) { self.keys = keys }

  var snapshot: [String: [UInt8]] {
    self.fetches += 1
    return self.keys
  }

  func set(_ keys: [String: [UInt8]]) { self.keys = keys }

  private var failing = false
  func fail() { self.failing = true }

  func snapshotOrFail() throws -> [String: [UInt8]] {
    struct Down: Error {}
    if self.failing { throw Down() }
    return self.snapshot
  }
}

func expectUnauthenticated(
  _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
  do {
    try await body()
    Issue.record("expected UNAUTHENTICATED", sourceLocation: sourceLocation)
  } catch let error as RPCError {
    #expect(error.code == .unauthenticated, sourceLocation: sourceLocation)
    #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
  } catch {
    Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
  }
}

@Suite("Verified token cache")
struct VerifiedTokenCacheTests {
  @Test func aTokenIsCheckedOnceAndRefusedAfterItExpires() async throws {
    let key = Ed25519SigningKey()
    let published = Published(["k1": key.publicKey])
    let clock = Counter64()
    let verifier = AccessTokenVerifier(
      keys: CachedVerificationKeys { await published.snapshot }, leeway: 0, now: { clock.value.load(ordering: .relaxed) })
    clock.value.store(1000, ordering: .relaxed)
    let token = AccessToken.sign(
      AccessTokenClaims(
        issuer: "identity", subject: "u", tenantID: "t", role: .viewer, issuedAt: 1000, expiresAt: 1060, tokenID: "j"),
      keyID: "k1", key: key)
    for _ in 0..<100 { _ = try await verifier.verify(bearer: token) }
    clock.value.store(1061, ordering: .relaxed)
    await expectUnauthenticated("expired") { _ = try await verifier.verify(bearer: token) }
    // A forged token is never served from the cache of a genuine one. The signature's first
    // character is changed: it always changes the decoded bytes (replacing the last two could
    // rewrite a signature that already ended in "AA" into itself, 1 time in 256).
    let signatureStart = token.index(after: try #require(token.lastIndex(of: ".")))
    let forged = token.replacingCharacters(
      in: signatureStart...signatureStart, with: token[signatureStart] == "A" ? "B" : "A")
    #expect(forged != token)
    await expectUnauthenticated("signature") { _ = try await verifier.verify(bearer: forged) }
  }

  @Test func aCachedTokenNeverVouchesForAnotherTokenEndingInTheSameSignature() async throws {
    let key = Ed25519SigningKey()
    let verifier = AccessTokenVerifier(keys: StaticVerificationKeys(["k1": key.publicKey]), leeway: 0, now: { 1000 })
    func sign(_ role: Role) -> String {
      AccessToken.sign(
        AccessTokenClaims(
          issuer: "identity", subject: "u", tenantID: "t", role: role, issuedAt: 1000, expiresAt: 1060, tokenID: "j"),
        keyID: "k1", key: key)
    }
    let genuine = sign(.viewer)
    _ = try await verifier.verify(bearer: genuine)
    #expect(verifier.cachedCaller(bearer: genuine[...])?.role == .viewer)
    // The admin claims with the viewer token's signature: only an exact match of a cached
    // token may be served from the cache.
    let admin = sign(.admin)
    let forged = String(admin[..<(try #require(admin.lastIndex(of: ".")))]) + genuine[(try #require(genuine.lastIndex(of: ".")))...]
    #expect(forged.utf8.suffix(32).elementsEqual(genuine.utf8.suffix(32)))
    #expect(verifier.cachedCaller(bearer: forged[...]) == nil)
    await expectUnauthenticated("signature") { _ = try await verifier.verify(bearer: forged) }
  }

  @Test func aCachedTokenIsServedOnlyForItsExactBytes() async throws {
    let key = Ed25519SigningKey()
    let verifier = AccessTokenVerifier(keys: StaticVerificationKeys(["k1": key.publicKey]), leeway: 0, now: { 1000 })
    let genuine = try #require(self.tokens(signedBy: key).first { $0.contains("K") })
    _ = try await verifier.verify(bearer: genuine)
    // U+212A KELVIN SIGN is canonically equivalent to "K": Swift strings with one or the other
    // compare (and hash) equal, though their bytes differ.
    let k = try #require(genuine.firstIndex(of: "K"))
    let twin = genuine.replacingCharacters(in: k...k, with: "\u{212A}")
    #expect(twin == genuine && twin.utf8.count != genuine.utf8.count)
    #expect(verifier.cachedCaller(bearer: twin[...]) == nil)
    await expectUnauthenticated("malformed") { _ = try await verifier.verify(bearer: twin) }
  }

  @Test func aSignatureReSpelledWithNonASCIIBytesIsMalformed() async throws {
    // libsodium 1.0.18 reads every byte from 0x80 up as "_": "__" and the two bytes of "\u{BF}"
    // (C2 BF) decode alike, so without an alphabet check this forgery carries the genuine
    // signature bytes and verifies.
    let key = Ed25519SigningKey()
    let verifier = AccessTokenVerifier(keys: StaticVerificationKeys(["k1": key.publicKey]), leeway: 0, now: { 1000 })
    let genuine = try #require(self.tokens(signedBy: key).first { $0.split(separator: ".")[2].contains("__") })
    let signature = try #require(genuine.lastIndex(of: "."))
    let forged = genuine[..<signature] + genuine[signature...].replacing("__", with: "\u{BF}", maxReplacements: 1)
    #expect(forged.utf8.count == genuine.utf8.count && forged != genuine)
    await expectUnauthenticated("malformed") { _ = try await verifier.verify(bearer: String(forged)) }
    #expect(Base64URL.decode("QU\u{BF}") == nil && Base64URL.decode("QU__") != nil)
    _ = try await verifier.verify(bearer: genuine)
  }

  /// Tokens with distinct ids (so distinct signatures), for tests that need one of a shape.
  private func tokens(signedBy key: Ed25519SigningKey) -> some Sequence<String> {
    (0..<5000).lazy.map { id in
      AccessToken.sign(
        AccessTokenClaims(
          issuer: "identity", subject: "u", tenantID: "t", role: .viewer, issuedAt: 1000, expiresAt: 1060,
          tokenID: "j\(id)"),
        keyID: "k1", key: key)
    }
  }
}

final class Counter64: Sendable {
  let value = Atomic<Int64>(0)
}
