/// Received messages waiting for their reader, in order.
///
/// The common case, one message at a time (every unary call), is held inline: a stream whose
/// messages never queue up allocates no queue.
struct MessageQueue<Element> {
  private var first: Element?
  private var rest: [Element] = []
  private var restHead = 0

  var isEmpty: Bool { self.first == nil }

  var count: Int { self.first == nil ? 0 : 1 + self.rest.count - self.restHead }

  /// The oldest message, without removing it.
  var peek: Element? { self.first }

  mutating func append(_ element: Element) {
    if self.first == nil {
      self.first = element
    } else {
      self.rest.append(element)
    }
  }

  /// Removes and returns the oldest message.
  mutating func pop() -> Element? {
    guard let element = self.first else { return nil }
    if self.restHead < self.rest.count {
      self.first = self.rest[self.restHead]
      self.restHead += 1
      if self.restHead == self.rest.count {
        self.rest.removeAll(keepingCapacity: true)
        self.restHead = 0
      } else if self.restHead > 32 && self.restHead * 2 > self.rest.count {
        self.rest.removeFirst(self.restHead)
        self.restHead = 0
      }
    } else {
      self.first = nil
    }
    return element
  }
}
