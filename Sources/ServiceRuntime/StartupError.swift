/// A failure to start: bad configuration, a database that cannot be prepared, or an address
/// that cannot be bound. Its description is the one line an operator sees.
public struct StartupError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { self.message }

  public init(message: String) {
    self.message = message
  }
}
