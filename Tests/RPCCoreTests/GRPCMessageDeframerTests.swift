import RPCCore
import Testing

@Suite("gRPC message framing")
struct GRPCMessageDeframerTests {
  private func messages(_ deframer: inout GRPCMessageDeframer) throws -> [[UInt8]] {
    var out: [[UInt8]] = []
    while let message = try deframer.next() { out.append(Array(message.bytes)) }
    return out
  }

  @Test func zeroLengthMessageIsOneEmptyMessage() throws {
    var deframer = GRPCMessageDeframer(maxMessageBytes: 100)
    deframer.append([0, 0, 0, 0, 0])
    #expect(try self.messages(&deframer) == [[]])
    #expect(deframer.bufferedByteCount == 0)
  }

  @Test func messageSplitAcrossManyChunksArrivesWhole() throws {
    let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
    let framed = GRPCMessageFramer.frame(payload)
    var deframer = GRPCMessageDeframer(maxMessageBytes: 4096)
    var received: [[UInt8]] = []
    for byte in framed {
      deframer.append([byte])
      received += try self.messages(&deframer)
    }
    #expect(received == [payload])
  }

  @Test func severalMessagesInOneChunkArriveInOrder() throws {
    let chunk = GRPCMessageFramer.frame([1]) + GRPCMessageFramer.frame([]) + GRPCMessageFramer.frame([2, 3])
    var deframer = GRPCMessageDeframer(maxMessageBytes: 10)
    deframer.append(chunk)
    #expect(try self.messages(&deframer) == [[1], [], [2, 3]])
  }

  @Test func lengthPrefixCutInHalfWaitsForTheRest() throws {
    let framed = GRPCMessageFramer.frame([9, 8, 7])
    var deframer = GRPCMessageDeframer(maxMessageBytes: 10)
    deframer.append(Array(framed[0..<2]))
    #expect(try deframer.next() == nil)
    deframer.append(Array(framed[2..<4]))
    #expect(try deframer.next() == nil)
    deframer.append(Array(framed[4...]))
    #expect(try self.messages(&deframer) == [[9, 8, 7]])
  }

  @Test func messageOverTheLimitIsRejectedFromItsPrefix() {
    var deframer = GRPCMessageDeframer(maxMessageBytes: 4)
    deframer.append([0, 0, 0, 0, 5])
    #expect(throws: GRPCMessageDeframer.Failure.messageTooLarge(length: 5, limit: 4)) {
      try deframer.next()
    }
  }

  @Test func messageExactlyAtTheLimitIsAccepted() throws {
    var deframer = GRPCMessageDeframer(maxMessageBytes: 4)
    deframer.append(GRPCMessageFramer.frame([1, 2, 3, 4]))
    #expect(try self.messages(&deframer) == [[1, 2, 3, 4]])
  }

  @Test func invalidCompressedFlagIsRejected() {
    var deframer = GRPCMessageDeframer(maxMessageBytes: 4)
    deframer.append([7, 0, 0, 0, 0])
    #expect(throws: GRPCMessageDeframer.Failure.invalidCompressedFlag(7)) { try deframer.next() }
  }

  @Test func compressedFlagIsReported() throws {
    var deframer = GRPCMessageDeframer(maxMessageBytes: 4)
    deframer.append(GRPCMessageFramer.frame([1], compressed: true))
    let message = try #require(try deframer.next())
    #expect(message.compressed)
  }

  @Test func largeStreamsOfSmallMessagesKeepTheBufferBounded() throws {
    var deframer = GRPCMessageDeframer(maxMessageBytes: 100)
    let framed = GRPCMessageFramer.frame([UInt8](repeating: 1, count: 50))
    for _ in 0..<10_000 {
      deframer.append(framed + framed[0..<3])
      _ = try deframer.next()
      deframer.append(Array(framed[3...]))
      _ = try deframer.next()
      #expect(deframer.bufferedByteCount == 0)
    }
  }
}
