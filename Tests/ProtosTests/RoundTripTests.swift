import GRPCHealthV1Protos
import GRPCTestingProtos
import TestV1Protos
import RPCCore
import Testing

/// Encodes with protobuf-c and decodes the bytes again.
func roundTrip<Message: RPCMessage>(_ message: Message) throws -> Message {
  try Message(serializedBytes: try message.serializedBytes())
}

@Suite("Messages survive a round trip through protobuf-c")
struct RoundTripTests {
  @Test("every scalar type, string, bytes and enum field keeps its value")
  func everyScalarKind() throws {
    var message = Test_V1_Scalars()
    message.int32Value = -123_456
    message.int64Value = Int64.min
    message.uint32Value = UInt32.max
    message.uint64Value = UInt64.max
    message.sint32Value = Int32.min
    message.sint64Value = -9_876_543_210
    message.fixed32Value = 0xDEAD_BEEF
    message.fixed64Value = 0x0123_4567_89AB_CDEF
    message.sfixed32Value = -42
    message.sfixed64Value = Int64.max
    message.floatValue = 3.25
    message.doubleValue = -1.0e300
    message.boolValue = true
    message.stringValue = "héllo, wörld ✓"
    message.bytesValue = [0, 1, 2, 0xFF, 0]
    message.color = .green
    #expect(try roundTrip(message) == message)
  }

  @Test("extreme values of every scalar type keep their value", arguments: [Int64.min, -1, 0, 1, Int64.max])
  func extremeValues(value: Int64) throws {
    var message = Test_V1_Scalars()
    message.int32Value = Int32(truncatingIfNeeded: value)
    message.int64Value = value
    message.sint64Value = value
    message.sfixed64Value = value
    message.uint64Value = UInt64(bitPattern: value)
    message.fixed64Value = UInt64(bitPattern: value)
    #expect(try roundTrip(message) == message)
  }

  @Test("repeated fields of every kind keep their elements in order")
  func repeatedFields() throws {
    var inner = Test_V1_Outer.Inner()
    inner.value = 7
    var message = Test_V1_Repeated()
    message.int32Values = [1, -2, 3, Int32.min]
    message.int64Values = [Int64.max, -1]
    message.uint32Values = [0, UInt32.max]
    message.uint64Values = [UInt64.max, 5]
    message.sint32Values = [-1, 1]
    message.sint64Values = [-2, 2]
    message.fixed32Values = [9, 8]
    message.fixed64Values = [7, 6]
    message.sfixed32Values = [-5, 5]
    message.sfixed64Values = [-4, 4]
    message.floatValues = [1.5, -2.5]
    message.doubleValues = [0.125, 1e-10]
    message.boolValues = [true, false, true]
    message.stringValues = ["a", "", "ccc"]
    message.bytesValues = [[1], [], [2, 3]]
    message.colors = [.red, .unspecified, .negative, .unrecognized(42)]
    message.messages = [inner, Test_V1_Outer.Inner(), inner]
    #expect(try roundTrip(message) == message)
  }

  @Test("maps with several entries keep every entry")
  func maps() throws {
    var leafy = Test_V1_Outer.Inner()
    leafy.value = -1
    leafy.leaf = Test_V1_Outer.Inner.Leaf()
    leafy.leaf?.label = "leaf"
    var message = Test_V1_Maps()
    message.stringToInt32 = ["one": 1, "two": 2, "": 0, "minus": -5]
    message.int64ToMessage = [1: leafy, -7: Test_V1_Outer.Inner(), Int64.max: leafy]
    message.stringToString = ["k": "v", "empty": "", "ünï": "cødé"]
    message.boolToBytes = [true: [1, 2], false: []]
    message.uint32ToColor = [0: .red, 1: .unrecognized(99), UInt32.max: .negative]
    message.sint64ToDouble = [-1: 0.5, 0: -0.25, 1: 1e100]
    #expect(try roundTrip(message) == message)
  }

  @Test("equal maps encode to equal bytes whatever their insertion order")
  func mapsEncodeDeterministically() throws {
    var first = Test_V1_Maps()
    var second = Test_V1_Maps()
    let keys = (0..<50).map { "key-\($0)" }
    for key in keys { first.stringToInt32[key] = Int32(key.count) }
    for key in keys.reversed() { second.stringToInt32[key] = Int32(key.count) }
    #expect(try first.serializedBytes() == second.serializedBytes())
  }

  @Test(
    "each member of a oneof round-trips and keeps the fields around it",
    arguments: [
      Test_V1_Choice.Kind.number(0),
      .number(-17),
      .text(""),
      .text("chosen"),
      .inner(Test_V1_Outer.Inner()),
      .blob([]),
      .blob([9, 8, 7]),
      .color(.unspecified),
      .color(.unrecognized(1234)),
      .flag(false),
      .flag(true),
    ])
  func oneofMember(kind: Test_V1_Choice.Kind) throws {
    var message = Test_V1_Choice()
    message.name = "before"
    message.kind = kind
    message.after = 99
    let decoded = try roundTrip(message)
    #expect(decoded == message)
    #expect(decoded.kind == kind)
  }

  @Test("an unset oneof decodes as nil")
  func unsetOneof() throws {
    var message = Test_V1_Choice()
    message.name = "only"
    #expect(try roundTrip(message).kind == nil)
  }

  @Test("the last oneof member on the wire wins")
  func lastOneofMemberWins() throws {
    var number = Test_V1_Choice()
    number.kind = .number(5)
    var text = Test_V1_Choice()
    text.kind = .text("later")
    let bytes = try number.serializedBytes() + text.serializedBytes()
    #expect(try Test_V1_Choice(serializedBytes: bytes).kind == .text("later"))
  }

  @Test("proto3 optional fields set to their default value stay present")
  func optionalsPresentWithDefaults() throws {
    var message = Test_V1_Optionals()
    message.int32Value = 0
    message.stringValue = ""
    message.boolValue = false
    message.doubleValue = 0
    message.bytesValue = []
    message.color = .unspecified
    message.uint64Value = 0
    message.inner = Test_V1_Outer.Inner()
    let decoded = try roundTrip(message)
    #expect(decoded == message)
    #expect(decoded.int32Value == 0)
    #expect(decoded.stringValue == "")
    #expect(decoded.boolValue == false)
    #expect(decoded.bytesValue == [])
    #expect(decoded.inner != nil)
  }

  @Test("absent proto3 optional fields stay absent")
  func optionalsAbsent() throws {
    var message = Test_V1_Optionals()
    message.plain = 3
    let decoded = try roundTrip(message)
    #expect(decoded == message)
    #expect(decoded.int32Value == nil)
    #expect(decoded.stringValue == nil)
    #expect(decoded.boolValue == nil)
    #expect(decoded.doubleValue == nil)
    #expect(decoded.bytesValue == nil)
    #expect(decoded.color == nil)
    #expect(decoded.uint64Value == nil)
    #expect(decoded.inner == nil)
  }

  @Test("proto3 optional fields with non-default values round-trip")
  func optionalsWithValues() throws {
    var message = Test_V1_Optionals()
    message.int32Value = -8
    message.stringValue = "set"
    message.boolValue = true
    message.doubleValue = 2.5
    message.bytesValue = [4, 2]
    message.color = .negative
    message.uint64Value = UInt64.max
    var inner = Test_V1_Outer.Inner()
    inner.mode = .on
    message.inner = inner
    #expect(try roundTrip(message) == message)
  }

  @Test("nested messages, nested enums and types from other files round-trip")
  func nestedMessages() throws {
    var leaf = Test_V1_Outer.Inner.Leaf()
    leaf.label = "deep"
    var inner = Test_V1_Outer.Inner()
    inner.value = 42
    inner.leaf = leaf
    inner.mode = .on
    var payload = Grpc_Testing_Payload()
    payload.body = Array(repeating: 7, count: 10_000)
    var scalars = Test_V1_Scalars()
    scalars.stringValue = "nested"
    var message = Test_V1_Outer()
    message.inner = inner
    message.mode = .on
    message.inners = [inner, Test_V1_Outer.Inner(), inner]
    message.payload = payload
    message.scalars = scalars
    #expect(try roundTrip(message) == message)
    // A nested type is a message of its own too (it encodes with protobuf-c's generic packer).
    #expect(try roundTrip(inner) == inner)
    #expect(try roundTrip(leaf) == leaf)
  }

  @Test("a present but empty nested message stays present")
  func emptyNestedMessageStaysPresent() throws {
    var message = Test_V1_Outer()
    message.inner = Test_V1_Outer.Inner()
    #expect(try message.serializedBytes() == [0x0A, 0x00])
    #expect(try roundTrip(message).inner == Test_V1_Outer.Inner())
  }

  @Test("fields named after C and Swift keywords round-trip")
  func keywordFields() throws {
    var message = Test_V1_Keywords()
    message.`default` = 1
    message.`protocol` = "p"
    message.`self` = true
    message.`in` = 4
    message.`struct` = "s"
    message.type = 6
    #expect(try roundTrip(message) == message)
  }

  @Test("large messages encode through a heap buffer")
  func largeMessages() throws {
    var message = Test_V1_Repeated()
    message.stringValues = (0..<2_000).map { "string number \($0)" }
    message.int64Values = (0..<10_000).map { Int64($0) * 1_000_003 }
    let bytes = try message.serializedBytes()
    #expect(bytes.count > 4096)
    #expect(try Test_V1_Repeated(serializedBytes: bytes) == message)
  }

  @Test("interop request messages round-trip with every field set")
  func interopMessages() throws {
    var payload = Grpc_Testing_Payload()
    payload.type = .compressable
    payload.body = [1, 2, 3]
    var status = Grpc_Testing_EchoStatus()
    status.code = 2
    status.message = "test status message"
    var compressed = Grpc_Testing_BoolValue()
    compressed.value = true
    var report = Grpc_Testing_TestOrcaReport()
    report.cpuUtilization = 0.5
    report.requestCost = ["cost": 1.5]
    report.utilization = ["util": 0.25]
    var request = Grpc_Testing_SimpleRequest()
    request.responseType = .compressable
    request.responseSize = 314_159
    request.payload = payload
    request.fillUsername = true
    request.fillOauthScope = true
    request.responseCompressed = compressed
    request.responseStatus = status
    request.expectCompressed = Grpc_Testing_BoolValue()
    request.fillServerId = true
    request.fillGrpclbRouteType = true
    request.orcaPerQueryReport = report
    #expect(try roundTrip(request) == request)

    var parameters = Grpc_Testing_ResponseParameters()
    parameters.size = 31_415
    parameters.intervalUs = 1000
    parameters.compressed = compressed
    var streaming = Grpc_Testing_StreamingOutputCallRequest()
    streaming.responseParameters = [parameters, Grpc_Testing_ResponseParameters()]
    streaming.payload = payload
    streaming.responseStatus = status
    #expect(try roundTrip(streaming) == streaming)

    var response = Grpc_Testing_SimpleResponse()
    response.username = "user"
    response.grpclbRouteType = .backend
    response.hostname = "host"
    #expect(try roundTrip(response) == response)
  }

  @Test("health messages round-trip every serving status")
  func healthMessages() throws {
    for status in Grpc_Health_V1_HealthCheckResponse.ServingStatus.allCases {
      var response = Grpc_Health_V1_HealthCheckResponse()
      response.status = status
      #expect(try roundTrip(response).status == status)
    }
    var list = Grpc_Health_V1_HealthListResponse()
    var serving = Grpc_Health_V1_HealthCheckResponse()
    serving.status = .serving
    list.statuses = ["": serving, "grpc.testing.TestService": Grpc_Health_V1_HealthCheckResponse()]
    #expect(try roundTrip(list) == list)
  }
}
