/// A type-erased asynchronous sequence of messages received in a stream.
///
/// Iteration throws ``RPCError`` when the stream fails (for example the peer cancelled it or
/// sent a message that does not decode).
public struct RPCAsyncSequence<Element: Sendable>: AsyncSequence, Sendable {
  public typealias Failure = any Error

  private let makeNext: @Sendable () -> @Sendable () async throws -> Element?

  /// Wraps any sendable asynchronous sequence.
  public init<Base: AsyncSequence & Sendable>(wrapping base: Base) where Base.Element == Element {
    self.makeNext = {
      let box = IteratorBox(base.makeAsyncIterator())
      return { try await box.next() }
    }
  }

  /// A sequence that yields `elements` and finishes.
  public static func elements(_ elements: [Element]) -> Self {
    Self(wrapping: ArraySequence(elements: elements))
  }

  public struct AsyncIterator: AsyncIteratorProtocol {
    fileprivate let nextElement: @Sendable () async throws -> Element?

    public mutating func next() async throws -> Element? {
      try await self.nextElement()
    }
  }

  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(nextElement: self.makeNext())
  }
}

/// Holds a non-sendable iterator so it can be driven from a sendable closure.
///
/// Safe because the iterator is only used by the single consumer that created it, one call at a
/// time (an async iterator is never advanced concurrently).
private final class IteratorBox<Base: AsyncIteratorProtocol>: @unchecked Sendable {
  private var base: Base
  init(_ base: Base) { self.base = base }
  func next() async throws -> Base.Element? { try await self.base.next() }
}

private struct ArraySequence<Element: Sendable>: AsyncSequence, Sendable {
  let elements: [Element]
  struct AsyncIterator: AsyncIteratorProtocol {
    var iterator: IndexingIterator<[Element]>
    mutating func next() async throws -> Element? { self.iterator.next() }
  }
  func makeAsyncIterator() -> AsyncIterator { AsyncIterator(iterator: self.elements.makeIterator()) }
}
