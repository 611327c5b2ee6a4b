/// Runs around every call a server handles: authentication, request ids, logging, metrics.
///
/// An interceptor sees the request metadata and the context, may change them before passing
/// them on to `next`, may reject the call by throwing ``RPCError`` instead of calling `next`,
/// and observes how the call ended: `next` returns when the handler has finished (all response
/// messages written) and throws the error the call fails with. What an interceptor learns about
/// the call (its caller, the client's address, the request id) goes on the ``ServerContext`` it
/// hands to `next`, where later interceptors and the handler read it.
///
/// ```swift
/// struct RequireAuthorization: ServerInterceptor {
///   func intercept<Result: Sendable>(
///     metadata: Metadata, context: ServerContext,
///     next: (Metadata, ServerContext) async throws -> Result
///   ) async throws -> Result {
///     guard metadata.firstString("authorization") != nil else {
///       throw RPCError(code: .unauthenticated, message: "Missing authorization.")
///     }
///     return try await next(metadata, context)
///   }
/// }
/// ```
///
/// Interceptors run in the order they are given to the server; they do not see messages.
public protocol ServerInterceptor: Sendable {
  func intercept<Result: Sendable>(
    metadata: Metadata,
    context: ServerContext,
    next: (Metadata, ServerContext) async throws -> Result
  ) async throws -> Result
}
