/// Writes messages into a stream: a server's responses or a client's requests.
///
/// Writing suspends while the peer's flow-control window is closed, so a slow reader slows the
/// writer down instead of growing a buffer.
public struct RPCWriter<Element: Sendable>: Sendable {
  private let writeElements: @Sendable ([Element]) async throws -> Void

  /// Creates a writer that passes each batch of elements to `write`.
  public init(_ write: @escaping @Sendable ([Element]) async throws -> Void) {
    self.writeElements = write
  }

  /// Writes one message.
  public func write(_ element: Element) async throws {
    try await self.writeElements([element])
  }

  /// Writes several messages in order.
  public func write(contentsOf elements: some Sequence<Element>) async throws {
    try await self.writeElements(Array(elements))
  }
}
