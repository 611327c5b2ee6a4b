import Auth
import Testing

@Suite("Crypto")
struct CryptoTests {
  /// RFC 8032 §7.1, test 2 (one-byte message 0x72).
  @Test func ed25519MatchesTheRFC8032Vector() throws {
    let seed = hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
    let key = try Ed25519SigningKey(seed: seed)
    #expect(key.publicKey == hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"))
    let signature = key.sign([0x72])
    #expect(
      signature
        == hex(
          "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ))
    #expect(Ed25519.verify(signature: signature, message: [0x72], publicKey: key.publicKey))
    #expect(!Ed25519.verify(signature: signature, message: [0x73], publicKey: key.publicKey))
    #expect(!Ed25519.verify(signature: Array(signature.dropLast()), message: [0x72], publicKey: key.publicKey))
  }

  @Test func aSeedOfTheWrongLengthIsRefused() {
    #expect(throws: Ed25519SigningKey.InvalidSeed.self) { try Ed25519SigningKey(seed: [1, 2, 3]) }
  }

  @Test func argon2idHashesVerifyAndNeverRepeat() throws {
    let cost = PasswordHash.Cost(operations: 1, memoryBytes: 8 * 1024 * 1024)
    let first = try PasswordHash.hash("correct horse battery staple", cost: cost)
    let second = try PasswordHash.hash("correct horse battery staple", cost: cost)
    #expect(first.hasPrefix("$argon2id$"))
    #expect(first != second)
    #expect(PasswordHash.verify("correct horse battery staple", against: first))
    #expect(!PasswordHash.verify("correct horse battery stapl", against: first))
    #expect(!PasswordHash.verify("anything", against: "not a hash"))
    #expect(!PasswordHash.needsRehash(first, cost: cost))
    #expect(PasswordHash.needsRehash(first, cost: .interactive))
  }

  @Test func base64URLRoundTripsAndRejectsOtherAlphabets() {
    for length in 0..<40 {
      let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
      let text = Base64URL.encode(bytes)
      #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
      #expect(Base64URL.decode(text) == bytes)
    }
    #expect(Base64URL.decode("a+b/") == nil)
    #expect(Base64URL.decode("YQ==") == nil)
    #expect(Base64URL.decode("YQ") == [0x61])
  }

  @Test func sha256MatchesTheKnownDigest() {
    #expect(Digest.hex(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  @Test func constantTimeEqualsComparesContentAndLength() {
    #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
    #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
    #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
    #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
  }
}

func hex(_ text: String) -> [UInt8] {
  var bytes: [UInt8] = []
  var index = text.startIndex
  while index < text.endIndex {
    let next = text.index(index, offsetBy: 2)
    bytes.append(UInt8(text[index..<next], radix: 16)!)
    index = next
  }
  return bytes
}

@Suite("Secret box")
struct SecretBoxTests {
  @Test func sealedSecretsOpenOnlyWithTheirKeyAndUnaltered() throws {
    let box = try SecretBox(key: SecureRandom.bytes(32))
    let secret = SecureRandom.bytes(32)
    let sealed = box.seal(secret)
    #expect(sealed != box.seal(secret))
    #expect(box.open(sealed) == secret)
    var altered = sealed
    altered[altered.count - 1] ^= 1
    #expect(box.open(altered) == nil)
    #expect(try SecretBox(key: SecureRandom.bytes(32)).open(sealed) == nil)
    #expect(throws: SecretBox.InvalidKey.self) { try SecretBox(key: [1]) }
  }
}
