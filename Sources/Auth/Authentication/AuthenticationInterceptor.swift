public import RPCCore

/// Authenticates every call from its `authorization: Bearer <credential>` metadata and checks
/// the access its method declares (``AccessRules``, from the methods' descriptors), then hands
/// the handler a context whose ``ServerContext/caller`` is set.
///
/// - A public method runs without a credential; when one is sent it must still be valid, and
///   the handler sees its caller.
/// - Otherwise a missing credential is `UNAUTHENTICATED`, a bad one `UNAUTHENTICATED` with the
///   reason, a role below the method's `PERMISSION_DENIED`. The credential is never logged or
///   echoed.
/// - A method without a declared access rule is refused (`PERMISSION_DENIED`); the throwing
///   initializers already refuse to build an interceptor for one.
public struct AuthenticationInterceptor: ServerInterceptor {
  public let verifier: any BearerCredentialVerifier
  public let rules: AccessRules

  /// Checks calls against `rules`.
  public init(verifier: any BearerCredentialVerifier, rules: AccessRules) {
    self.verifier = verifier
    self.rules = rules
  }

  /// Checks calls to `methods` (a server's registered methods) against their declared access.
  ///
  /// - Throws: ``MissingAccessRule`` when one of them declares none.
  public init(verifier: any BearerCredentialVerifier, methods: some Sequence<MethodDescriptor>)
    throws(MissingAccessRule)
  {
    self.init(verifier: verifier, rules: try AccessRules(methods: methods))
  }

  /// Checks calls to the methods of `services` against their declared access.
  ///
  /// - Throws: ``MissingAccessRule`` when one of their methods declares none.
  public init(verifier: any BearerCredentialVerifier, services: [any RegistrableRPCService]) throws(MissingAccessRule) {
    var router = RPCRouter()
    for service in services { router.register(service) }
    try self.init(verifier: verifier, methods: router.descriptors)
  }

  public func intercept<Result: Sendable>(
    metadata: Metadata,
    context: ServerContext,
    next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result {
    let path = context.descriptor.path
    guard let access = self.rules.access(context.descriptor) else {
      throw RPCError(code: .permissionDenied, message: "\(path) declares no access rule; it is not served.")
    }
    let isPublic = access == .public
    guard let header = metadata.firstString("authorization") else {
      if isPublic { return try await next(metadata, context) }
      throw RPCError(code: .unauthenticated, message: "Missing authorization: send `authorization: Bearer <token>`.")
    }
    guard let credential = Self.bearerCredential(header) else {
      throw RPCError(code: .unauthenticated, message: "The authorization header must be `Bearer <token>`.")
    }
    // A token verified before is settled from the cache without copying it out of the header.
    let caller: Caller
    if let cached = self.verifier.cachedCaller(bearer: credential) {
      caller = cached
    } else {
      caller = try await self.verifier.verify(bearer: String(credential))
    }
    if case .role(let needed) = access {
      guard caller.role >= needed else {
        throw RPCError(
          code: .permissionDenied,
          message: "\(path) needs the \(needed.rawValue) role; the caller is \(caller.role.rawValue).")
      }
    }
    var context = context
    context.caller = caller
    return try await next(metadata, context)
  }

  /// What a call's metadata settles without awaiting anything: only tokens in the verifier's
  /// cache count.
  public enum CachedDecision: Sendable {
    /// The call may go on, with its caller (`nil`: a public method called without a credential).
    case allowed(Caller?)
    /// Only ``intercept(metadata:context:next:)`` can decide (a credential not cached, a
    /// malformed header, a role too low for the method: every refusal takes the full path).
    case undecided
  }

  /// Decides the common case of a call to `descriptor` from the verified-token cache alone:
  /// a public method without a credential, or a cached valid token whose role suffices.
  public func cachedDecision(metadata: Metadata, descriptor: MethodDescriptor) -> CachedDecision {
    guard let access = self.rules.access(descriptor) else { return .undecided }
    guard let header = metadata.firstString("authorization") else {
      return access == .public ? .allowed(nil) : .undecided
    }
    guard let credential = Self.bearerCredential(header),
      let caller = self.verifier.cachedCaller(bearer: credential)
    else { return .undecided }
    if case .role(let needed) = access, caller.role < needed { return .undecided }
    return .allowed(caller)
  }

  /// The credential of `Bearer <credential>` (scheme case-insensitive), or `nil`; a slice of
  /// `header`, not a copy.
  static func bearerCredential(_ header: String) -> Substring? {
    let bytes = header.utf8
    guard bytes.count > 7 else { return nil }
    // "bearer" in any case: ASCII letters compared with their case bit cleared.
    var index = bytes.startIndex
    for letter in "BEARER".utf8 {
      guard bytes[index] & 0xDF == letter else { return nil }
      index = bytes.index(after: index)
    }
    guard bytes[index] == UInt8(ascii: " ") else { return nil }
    while index < bytes.endIndex && bytes[index] == UInt8(ascii: " ") { index = bytes.index(after: index) }
    guard index < bytes.endIndex else { return nil }
    return Substring(bytes[index...])
  }
}
