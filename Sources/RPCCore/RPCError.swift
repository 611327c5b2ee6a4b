/// An error that ends an RPC with a gRPC status.
///
/// Handlers throw `RPCError` (or an error conforming to ``RPCErrorConvertible``) to choose the
/// status a caller sees. Any other error thrown by a handler reaches the caller as
/// ``Code/unknown`` without internal detail. Clients throw `RPCError` for every failed call.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The status code.
  public var code: Code
  /// A human-readable message for the caller; sent percent-encoded as `grpc-message`.
  public var message: String
  /// Trailing metadata sent with (or received with) the status.
  public var metadata: Metadata
  /// The underlying error, if any. Never sent on the wire.
  public var cause: (any Error)?

  public init(code: Code, message: String, metadata: Metadata = [:], cause: (any Error)? = nil) {
    self.code = code
    self.message = message
    self.metadata = metadata
    self.cause = cause
  }

  public var description: String {
    "\(self.code): \(self.message)"
  }

  public static func == (lhs: RPCError, rhs: RPCError) -> Bool {
    lhs.code == rhs.code && lhs.message == rhs.message && lhs.metadata == rhs.metadata
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(self.code)
    hasher.combine(self.message)
    hasher.combine(self.metadata)
  }
}

extension RPCError {
  /// A gRPC status code. `ok` is not an error code and is represented by ``Status``.
  public struct Code: Sendable, Hashable, CustomStringConvertible {
    /// The numeric value sent in `grpc-status` (1...16).
    public let rawValue: Int

    /// Creates a code from its numeric value; `nil` for 0 (OK) and values outside 1...16.
    public init?(rawValue: Int) {
      guard (1...16).contains(rawValue) else { return nil }
      self.rawValue = rawValue
    }

    private init(_ value: Int) { self.rawValue = value }

    /// The operation was cancelled, typically by the caller.
    public static let cancelled = Code(1)
    /// Unknown error, including errors a handler threw without choosing a status.
    public static let unknown = Code(2)
    /// The caller specified an invalid argument, whatever the state of the system.
    public static let invalidArgument = Code(3)
    /// The deadline expired before the operation could complete.
    public static let deadlineExceeded = Code(4)
    /// A requested entity was not found.
    public static let notFound = Code(5)
    /// The entity the caller attempted to create already exists.
    public static let alreadyExists = Code(6)
    /// The caller lacks permission for the operation.
    public static let permissionDenied = Code(7)
    /// A resource (quota, message size, rate) is exhausted.
    public static let resourceExhausted = Code(8)
    /// The system is not in a state required for the operation; retrying will not help until
    /// the state is fixed.
    public static let failedPrecondition = Code(9)
    /// The operation was aborted, typically by a concurrency conflict; retry at a higher level.
    public static let aborted = Code(10)
    /// The operation was attempted past the valid range.
    public static let outOfRange = Code(11)
    /// The operation is not implemented or supported.
    public static let unimplemented = Code(12)
    /// An invariant of the underlying system is broken.
    public static let `internal` = Code(13)
    /// The service is currently unavailable; retrying with backoff may succeed.
    public static let unavailable = Code(14)
    /// Unrecoverable data loss or corruption.
    public static let dataLoss = Code(15)
    /// The request lacks valid authentication credentials.
    public static let unauthenticated = Code(16)

    /// All sixteen error codes, in numeric order.
    public static let allCases: [Code] = (1...16).map { Code($0) }

    public var description: String {
      switch self.rawValue {
      case 1: "CANCELLED"
      case 2: "UNKNOWN"
      case 3: "INVALID_ARGUMENT"
      case 4: "DEADLINE_EXCEEDED"
      case 5: "NOT_FOUND"
      case 6: "ALREADY_EXISTS"
      case 7: "PERMISSION_DENIED"
      case 8: "RESOURCE_EXHAUSTED"
      case 9: "FAILED_PRECONDITION"
      case 10: "ABORTED"
      case 11: "OUT_OF_RANGE"
      case 12: "UNIMPLEMENTED"
      case 13: "INTERNAL"
      case 14: "UNAVAILABLE"
      case 15: "DATA_LOSS"
      case 16: "UNAUTHENTICATED"
      default: "CODE_\(self.rawValue)"
      }
    }
  }
}

/// An error that knows which gRPC status it should become.
///
/// Domain errors conform to this so that handlers can throw them directly; the server maps them
/// to the wire in one place.
public protocol RPCErrorConvertible: Error {
  /// The status this error is reported with.
  var rpcError: RPCError { get }
}

extension RPCError: RPCErrorConvertible {
  public var rpcError: RPCError { self }
}

extension RPCError {
  /// Maps any error thrown by a handler to the status a caller sees.
  ///
  /// `RPCError` and ``RPCErrorConvertible`` errors keep their status; cancellation becomes
  /// `CANCELLED`; anything else becomes `UNKNOWN` with a generic message so that internals never
  /// reach the caller.
  public init(mapping error: any Error) {
    if let convertible = error as? any RPCErrorConvertible {
      self = convertible.rpcError
    } else if error is CancellationError {
      self = RPCError(code: .cancelled, message: "The RPC was cancelled.", cause: error)
    } else {
      self = RPCError(code: .unknown, message: "The handler failed.", cause: error)
    }
  }
}
