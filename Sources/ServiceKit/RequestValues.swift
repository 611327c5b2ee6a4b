public import Auth
public import Foundation
public import RPCCore

/// Parses an id sent by a client: `INVALID_ARGUMENT` naming the field when it is not a UUID.
public func parseID(_ text: String, what: String) throws(RPCError) -> UUID {
  guard let id = UUID(uuidString: text) else {
    throw RPCError(
      code: .invalidArgument,
      message: "\(what) must be a UUID, got \(text.isEmpty ? "nothing" : "\"\(text.prefix(64))\"").")
  }
  return id
}

extension Caller {
  /// The caller's tenant as a UUID (`UNAUTHENTICATED` for a token naming anything else).
  public var tenantUUID: UUID {
    get throws(RPCError) {
      guard let id = UUID(uuidString: self.tenantID) else {
        throw RPCError(code: .unauthenticated, message: "The access token names no valid tenant.")
      }
      return id
    }
  }
}

extension Date {
  /// Unix time in milliseconds, as the protos carry timestamps.
  public var unixMilliseconds: Int64 { Int64((self.timeIntervalSince1970 * 1000).rounded()) }
}

extension UUID {
  /// The canonical lower-case text form used on the wire.
  public var lowercased: String { self.uuidString.lowercased() }
}

/// The paths of an update mask, checked against the fields that may change.
public func updateMask(_ paths: [String], allowed: Set<String>) throws(RPCError) -> Set<String> {
  for path in paths where !allowed.contains(path) {
    throw RPCError(
      code: .invalidArgument,
      message: "update_mask names \"\(path.prefix(64))\", which cannot be changed; allowed: \(allowed.sorted().joined(separator: ", ")).")
  }
  return Set(paths)
}
