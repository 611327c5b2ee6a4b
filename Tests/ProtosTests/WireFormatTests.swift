import GRPCHealthV1Protos
import GRPCTestingProtos
import TestV1Protos
import RPCCore
import Testing

@Suite("protobuf-c produces the standard wire format")
struct WireFormatTests {
  @Test("field 1 int32 = 150 encodes to 08 96 01")
  func int32Varint() throws {
    var message = Test_V1_Test1()
    message.a = 150
    #expect(try message.serializedBytes() == [0x08, 0x96, 0x01])
    #expect(try Test_V1_Test1(serializedBytes: [0x08, 0x96, 0x01]).a == 150)
  }

  @Test("a string field encodes as tag, length and UTF-8")
  func stringField() throws {
    var request = Grpc_Health_V1_HealthCheckRequest()
    request.service = "testing"
    #expect(try request.serializedBytes() == [0x0A, 0x07] + Array("testing".utf8))
  }

  @Test("a negative int32 encodes as a ten-byte varint")
  func negativeInt32() throws {
    var message = Test_V1_Test1()
    message.a = -1
    #expect(try message.serializedBytes() == [0x08] + Array(repeating: 0xFF, count: 9) + [0x01])
  }

  @Test("repeated scalars are packed")
  func packedRepeated() throws {
    var message = Test_V1_Repeated()
    message.int32Values = [1, 2, 150]
    #expect(try message.serializedBytes() == [0x0A, 0x04, 0x01, 0x02, 0x96, 0x01])
  }

  @Test("an enum field encodes its number")
  func enumField() throws {
    var response = Grpc_Health_V1_HealthCheckResponse()
    response.status = .notServing
    #expect(try response.serializedBytes() == [0x08, 0x02])
  }

  @Test("a proto3 optional set to its default is still on the wire")
  func optionalDefaultOnTheWire() throws {
    var message = Test_V1_Optionals()
    message.int32Value = 0
    #expect(try message.serializedBytes() == [0x08, 0x00])
    message = Test_V1_Optionals()
    message.stringValue = ""
    #expect(try message.serializedBytes() == [0x12, 0x00])
  }

  @Test("a oneof member set to its default is still on the wire")
  func oneofDefaultOnTheWire() throws {
    var message = Test_V1_Choice()
    message.kind = .number(0)
    #expect(try message.serializedBytes() == [0x10, 0x00])
  }

  @Test("map entries encode as key-value messages sorted by key")
  func mapEntries() throws {
    var message = Test_V1_Maps()
    message.stringToInt32 = ["b": 2, "a": 1]
    let entryA: [UInt8] = [0x0A, 0x01, UInt8(ascii: "a"), 0x10, 0x01]
    let entryB: [UInt8] = [0x0A, 0x01, UInt8(ascii: "b"), 0x10, 0x02]
    #expect(try message.serializedBytes() == [0x0A, 0x05] + entryA + [0x0A, 0x05] + entryB)
  }

  @Test(
    "a message with every field at its default encodes to zero bytes",
    arguments: [
      try Test_V1_Scalars().serializedBytes(),
      try Test_V1_Outer().serializedBytes(),
      try Test_V1_Outer.Inner().serializedBytes(),
      try Test_V1_Repeated().serializedBytes(),
      try Test_V1_Maps().serializedBytes(),
      try Test_V1_Choice().serializedBytes(),
      try Test_V1_Optionals().serializedBytes(),
      try Test_V1_Keywords().serializedBytes(),
      try Grpc_Testing_Empty().serializedBytes(),
      try Grpc_Testing_SimpleRequest().serializedBytes(),
      try Grpc_Testing_StreamingOutputCallRequest().serializedBytes(),
      try Grpc_Health_V1_HealthCheckResponse().serializedBytes(),
    ])
  func defaultsEncodeToNothing(bytes: [UInt8]) {
    #expect(bytes.isEmpty)
  }

  @Test("empty input decodes to the default message")
  func emptyInputDecodesToDefault() throws {
    #expect(try Test_V1_Scalars(serializedBytes: []) == Test_V1_Scalars())
    #expect(try Test_V1_Maps(serializedBytes: []) == Test_V1_Maps())
    #expect(try Test_V1_Outer.Inner(serializedBytes: []) == Test_V1_Outer.Inner())
    #expect(try Grpc_Testing_Empty(serializedBytes: []) == Grpc_Testing_Empty())
    let empty = UnsafeRawBufferPointer(start: nil, count: 0)
    #expect(try Grpc_Testing_SimpleRequest(serializedBytes: empty) == Grpc_Testing_SimpleRequest())
  }

  @Test(
    "invalid bytes throw RPCError internal naming the message",
    arguments: [
      [0xFF] as [UInt8],  // wire type 7 does not exist
      [0x0A, 0x05, 0x01],  // length runs past the end
      [0x08],  // tag without its value
      [0x08, 0x80, 0x80],  // truncated varint
      [0x00, 0x00],  // field number 0
    ])
  func invalidBytesThrow(bytes: [UInt8]) {
    #expect {
      _ = try Test_V1_Scalars(serializedBytes: bytes)
    } throws: { error in
      guard let error = error as? RPCError else { return false }
      return error.code == .internal
        && error.message == "Failed to decode test.v1.Scalars: invalid protobuf."
    }
  }

  @Test("invalid bytes for a nested message type throw RPCError internal too")
  func invalidBytesNestedThrow() {
    #expect(throws: RPCError(code: .internal, message: "Failed to decode test.v1.Outer.Inner: invalid protobuf.")) {
      _ = try Test_V1_Outer.Inner(serializedBytes: [0x12, 0x09, 0x00])
    }
  }

  @Test("unknown enum values survive a round trip")
  func unknownEnumValues() throws {
    var message = Test_V1_Scalars()
    message.color = Test_V1_Color(rawValue: 99)
    #expect(message.color == .unrecognized(99))
    let bytes = try message.serializedBytes()
    #expect(bytes == [0x80, 0x01, 0x63])
    let decoded = try Test_V1_Scalars(serializedBytes: bytes)
    #expect(decoded.color == .unrecognized(99))
    #expect(decoded.color.rawValue == 99)
    #expect(try decoded.serializedBytes() == bytes)
  }

  @Test("unknown enum values decoded from the wire are kept")
  func unknownEnumFromWire() throws {
    let response = try Grpc_Health_V1_HealthCheckResponse(serializedBytes: [0x08, 0x07])
    #expect(response.status == .unrecognized(7))
    #expect(try response.serializedBytes() == [0x08, 0x07])
  }

  @Test("unknown fields are skipped when decoding and dropped")
  func unknownFieldsDropped() throws {
    // Field 1 = 150, then unknown field 100 (varint 1) and unknown field 101 (bytes "x").
    let bytes: [UInt8] = [0x08, 0x96, 0x01, 0xA0, 0x06, 0x01, 0xAA, 0x06, 0x01, 0x78]
    let message = try Test_V1_Test1(serializedBytes: bytes)
    #expect(message.a == 150)
    #expect(try message.serializedBytes() == [0x08, 0x96, 0x01])
  }

  @Test("a string with an embedded NUL is cut at the NUL on the wire")
  func embeddedNulTruncates() throws {
    var request = Grpc_Health_V1_HealthCheckRequest()
    request.service = "ab\0cd"
    #expect(try request.serializedBytes() == [0x0A, 0x02, 0x61, 0x62])
  }
}
