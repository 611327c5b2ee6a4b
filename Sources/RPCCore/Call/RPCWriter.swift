/// Writes messages into a stream: a server's responses or a client's requests.
///
/// Writing suspends while the peer's flow-control window is closed, so a slow reader slows the
/// writer down instead of growing a buffer.
public struct RPCWriter<Element: Sendable>: Sendable {
  private let writeElement: @Sendable (Element) async throws -> Void
  private let writeElements: @Sendable ([Element]) async throws -> Void

  /// Creates a writer that passes each batch of elements to `write` (a single write is a batch
  /// of one).
  public init(_ write: @escaping @Sendable ([Element]) async throws -> Void) {
    self.writeElement = { try await write([$0]) }
    self.writeElements = write
  }

  /// Creates a writer that passes each element to `writeOne`, in order (no array per write:
  /// the path of the transports' streams).
  public init(writingEach writeOne: @escaping @Sendable (Element) async throws -> Void) {
    self.writeElement = writeOne
    self.writeElements = { elements in
      for element in elements { try await writeOne(element) }
    }
  }

  /// Writes one message.
  public func write(_ element: Element) async throws {
    try await self.writeElement(element)
  }

  /// Writes several messages in order.
  public func write(contentsOf elements: some Sequence<Element>) async throws {
    try await self.writeElements(Array(elements))
  }
}
