/// Public keys that verify access tokens, by key id (`kid`).
public protocol VerificationKeyProvider: Sendable {
  /// The Ed25519 public key named `keyID`, or `nil` when there is no such key.
  func publicKey(forKeyID keyID: String) async throws -> [UInt8]?
}

/// A fixed set of public keys, such as from configuration (`AUTH_PUBLIC_KEYS`).
public struct StaticVerificationKeys: VerificationKeyProvider {
  /// Thrown by ``init(parsing:)`` with a message naming the bad entry.
  public struct ParseError: Error, CustomStringConvertible {
    public let description: String
  }

  public let keys: [String: [UInt8]]

  public init(_ keys: [String: [UInt8]]) {
    self.keys = keys
  }

  /// Parses `kid=base64url-public-key` entries separated by commas, such as
  /// `k1=11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo,k2=…`.
  public init(parsing text: String) throws {
    var keys: [String: [UInt8]] = [:]
    for entry in text.split(separator: ",") {
      let trimmed = entry.trimmingSpaces()
      guard !trimmed.isEmpty else { continue }
      guard let equals = trimmed.firstIndex(of: "=") else {
        throw ParseError(description: "Public key entry \"\(trimmed)\" is not kid=base64url.")
      }
      let keyID = String(trimmed[..<equals])
      guard !keyID.isEmpty, let key = Base64URL.decode(trimmed[trimmed.index(after: equals)...]), key.count == 32 else {
        throw ParseError(description: "Public key \"\(keyID)\" is not a 32-byte base64url Ed25519 key.")
      }
      keys[keyID] = key
    }
    guard !keys.isEmpty else { throw ParseError(description: "No public keys given.") }
    self.keys = keys
  }

  public func publicKey(forKeyID keyID: String) async throws -> [UInt8]? { self.keys[keyID] }
}

/// Keys fetched from their publisher (identity's `GetSigningKeys`), cached, and fetched again
/// when a token names a key the cache lacks, at most once per `minimumRefetchInterval`, so that
/// a rotated key is picked up without a restart and a flood of made-up key ids cannot turn into
/// a flood of fetches.
public actor CachedVerificationKeys: VerificationKeyProvider {
  public typealias Fetch = @Sendable () async throws -> [String: [UInt8]]

  private let fetch: Fetch
  private let minimumRefetchInterval: Duration
  private let maximumAge: Duration
  private var keys: [String: [UInt8]] = [:]
  private var fetchedAt: ContinuousClock.Instant?
  private var lastAttempt: ContinuousClock.Instant?
  private var inFlight: Task<[String: [UInt8]], any Error>?

  /// - Parameters:
  ///   - minimumRefetchInterval: the least time between two fetches triggered by unknown keys.
  ///   - maximumAge: keys are refetched when older than this even if every key is known (so
  ///     a withdrawn key disappears).
  public init(minimumRefetchInterval: Duration = .seconds(5), maximumAge: Duration = .seconds(300), fetch: @escaping Fetch) {
    self.fetch = fetch
    self.minimumRefetchInterval = minimumRefetchInterval
    self.maximumAge = maximumAge
  }

  public func publicKey(forKeyID keyID: String) async throws -> [UInt8]? {
    let now = ContinuousClock.now
    if let fetchedAt, now - fetchedAt < self.maximumAge, let key = self.keys[keyID] {
      return key
    }
    if self.inFlight != nil {
      // A fetch is under way (the first one, say): wait for it rather than answer from an
      // empty cache.
      try await self.refresh()
      return self.keys[keyID]
    }
    if let lastAttempt, now - lastAttempt < self.minimumRefetchInterval {
      return self.keys[keyID]
    }
    try await self.refresh()
    return self.keys[keyID]
  }

  /// Fetches the keys now (one fetch at a time; concurrent callers share it). When the fetch
  /// fails the keys fetched before stay in use; with none, the error is thrown.
  public func refresh() async throws {
    let task: Task<[String: [UInt8]], any Error>
    if let inFlight {
      task = inFlight
    } else {
      self.lastAttempt = .now
      task = Task { try await self.fetch() }
      self.inFlight = task
    }
    defer { if self.inFlight == task { self.inFlight = nil } }
    do {
      self.keys = try await task.value
      self.fetchedAt = .now
    } catch {
      if self.keys.isEmpty { throw error }
    }
  }

}

extension StringProtocol {
  fileprivate func trimmingSpaces() -> SubSequence {
    var start = self.startIndex
    var end = self.endIndex
    while start < end, self[start] == " " { start = self.index(after: start) }
    while end > start, self[self.index(before: end)] == " " { end = self.index(before: end) }
    return self[start..<end]
  }
}
