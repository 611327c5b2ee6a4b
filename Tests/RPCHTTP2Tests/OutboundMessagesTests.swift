@testable import RPCHTTP2
import Testing

@Suite("Outbound message queue")
struct OutboundMessagesTests {
  @Test func bytesComeOutInOrderWhateverTheAppendAndReadSizesFramedOrNot() {
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
          if Bool.random(using: &generator) {
            queue.append(message)
            expected += message
          } else {
            // A payload framed on the way out: the gRPC prefix, then the bytes.
            queue.append(unframed: message[...])
            expected += [0, 0, 0, UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
          }
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

  @Test func anUnframedPayloadGetsABigEndianLengthPrefixAndNoFlag() {
    var queue = OutboundMessages()
    let body = [UInt8](repeating: 7, count: 70_000)  // 0x00_01_11_70
    queue.append(unframed: body[...])
    #expect(queue.pendingBytes == 70_005)
    var buffer = [UInt8](repeating: 0xFF, count: 3)
    #expect(buffer.withUnsafeMutableBytes { queue.read(into: $0) } == 3)
    #expect(buffer == [0, 0x00, 0x01])
    var rest = [UInt8](repeating: 0, count: 80_000)
    #expect(rest.withUnsafeMutableBytes { queue.read(into: $0) } == 70_002)
    #expect(Array(rest.prefix(2)) == [0x11, 0x70])
    #expect(rest[2..<70_002].allSatisfy { $0 == 7 })
    #expect(queue.isEmpty)
  }
}
