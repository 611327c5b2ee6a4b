@testable import RPCHTTP2
import Testing

@Suite("Received message queue")
struct MessageQueueTests {
  @Test func messagesComeOutInArrivalOrderWhateverTheInterleaving() {
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<200 {
      var queue = MessageQueue<Int>()
      var next = 0
      var expected = 0
      for _ in 0..<Int.random(in: 1...200, using: &generator) {
        if Bool.random(using: &generator) {
          queue.append(next)
          next += 1
        } else if let popped = queue.pop() {
          #expect(popped == expected)
          expected += 1
        }
        #expect(queue.count == next - expected)
        #expect(queue.isEmpty == (next == expected))
        #expect(queue.peek == (next == expected ? nil : expected))
      }
      while let popped = queue.pop() {
        #expect(popped == expected)
        expected += 1
      }
      #expect(expected == next)
    }
  }

  @Test func aLongBacklogDrainsInOrder() {
    var queue = MessageQueue<Int>()
    for value in 0..<1000 { queue.append(value) }
    for value in 0..<500 { #expect(queue.pop() == value) }
    for value in 1000..<1200 { queue.append(value) }
    var drained: [Int] = []
    while let value = queue.pop() { drained.append(value) }
    #expect(drained == Array(500..<1200))
  }
}
