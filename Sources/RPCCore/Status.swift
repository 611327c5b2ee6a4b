/// The final status of an RPC as carried in `grpc-status` / `grpc-message`.
public struct Status: Sendable, Hashable, CustomStringConvertible {
  /// The numeric status code (0 = OK, 1...16 = ``RPCError/Code``).
  public var code: Int
  /// The decoded status message.
  public var message: String

  public init(code: Int, message: String = "") {
    self.code = code
    self.message = message
  }

  /// The status of a successful call.
  public static let ok = Status(code: 0)

  public init(_ error: RPCError) {
    self.code = error.code.rawValue
    self.message = error.message
  }

  public var isOK: Bool { self.code == 0 }

  public var description: String {
    if self.code == 0 { return "OK" }
    let name = RPCError.Code(rawValue: self.code)?.description ?? "CODE_\(self.code)"
    return self.message.isEmpty ? name : "\(name): \(self.message)"
  }
}
