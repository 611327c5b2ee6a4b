@testable import RPCHTTP2
import Testing

@Suite("Outbound message queue")
struct OutboundMessagesTests {
  @Test func bytesComeOutInOrderWhateverTheAppendAndReadSizes() {
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<200 {
      var queue = OutboundMessages()
      var expected: [UInt8] = []
      var received: [UInt8] = []
      var next: UInt8 = 0
      for _ in 0..<Int.random(in: 1...20, using: &generator) {
        if Bool.random(using: &generator) {
          let message = (0..<Int.random(in: 0...40, using: &generator)).map { _ -> UInt8 in
            next &+= 1
            return next
          }
          queue.append(message)
          expected += message
        } else {
          var buffer = [UInt8](repeating: 0, count: Int.random(in: 0...50, using: &generator))
          let count = buffer.withUnsafeMutableBytes { queue.read(into: $0) }
          received += buffer.prefix(count)
        }
        #expect(queue.pendingBytes == expected.count - received.count)
      }
      var buffer = [UInt8](repeating: 0, count: 4096)
      let count = buffer.withUnsafeMutableBytes { queue.read(into: $0) }
      received += buffer.prefix(count)
      #expect(received == expected)
      #expect(queue.isEmpty)
    }
  }
}
