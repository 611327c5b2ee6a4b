import GRPCTestingProtos
import TestV1Protos
import RPCCore
import Testing

/// Encodings made by protobuf's reference implementation (`protoc --encode`, C++, protoc
/// 3.21) from the text format quoted above each fixture. Decoding them must give the quoted
/// values and encoding those values must give the same bytes back: the generated code speaks
/// the standard wire format, not merely a format protobuf-c agrees with itself on.
@Suite("Encodings agree with protoc's reference implementation")
struct ReferenceEncodingTests {
  // response_type: COMPRESSABLE response_size: 314159 payload { body: "\000\001\002" }
  // fill_username: true response_compressed { value: true }
  // response_status { code: 2 message: "test status message" } expect_compressed { }
  // fill_server_id: true fill_grpclb_route_type: true
  // orca_per_query_report { cpu_utilization: 0.5 }
  static let simpleRequest: [UInt8] = [
    0x10, 0xAF, 0x96, 0x13, 0x1A, 0x05, 0x12, 0x03, 0x00, 0x01, 0x02, 0x20,
    0x01, 0x32, 0x02, 0x08, 0x01, 0x3A, 0x17, 0x08, 0x02, 0x12, 0x13, 0x74,
    0x65, 0x73, 0x74, 0x20, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73, 0x20, 0x6D,
    0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x42, 0x00, 0x48, 0x01, 0x50, 0x01,
    0x5A, 0x09, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F,
  ]

  // int32_value: -5 int64_value: 9000000000 uint32_value: 4000000000
  // uint64_value: 18000000000000000000 sint32_value: -3 sint64_value: -70000000000
  // fixed32_value: 7 fixed64_value: 8 sfixed32_value: -9 sfixed64_value: -10 float_value: 1.5
  // double_value: -2.25 bool_value: true string_value: "héllo" bytes_value: "\377\000"
  // color: COLOR_NEGATIVE
  static let scalars: [UInt8] = [
    0x08, 0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x10,
    0x80, 0xB4, 0xC4, 0xC3, 0x21, 0x18, 0x80, 0xD0, 0xAC, 0xF3, 0x0E, 0x20,
    0x80, 0x80, 0xA0, 0xA8, 0x9C, 0x94, 0xB6, 0xE6, 0xF9, 0x01, 0x28, 0x05,
    0x30, 0xFF, 0xEF, 0x99, 0xC5, 0x89, 0x04, 0x3D, 0x07, 0x00, 0x00, 0x00,
    0x41, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4D, 0xF7, 0xFF,
    0xFF, 0xFF, 0x51, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x5D,
    0x00, 0x00, 0xC0, 0x3F, 0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    0xC0, 0x68, 0x01, 0x72, 0x06, 0x68, 0xC3, 0xA9, 0x6C, 0x6C, 0x6F, 0x7A,
    0x02, 0xFF, 0x00, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0x01,
  ]

  // int32_values: [1, -2, 300] sint64_values: [-1, 1] double_values: [0.5]
  // bool_values: [true, false] string_values: ["a", ""] bytes_values: ["\001"]
  // colors: [COLOR_RED, COLOR_NEGATIVE] messages { value: 1 leaf { label: "x" } } messages { }
  static let repeated: [UInt8] = [
    0x0A, 0x0D, 0x01, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x01, 0xAC, 0x02, 0x32, 0x02, 0x01, 0x02, 0x62, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xE0, 0x3F, 0x6A, 0x02, 0x01, 0x00, 0x72, 0x01, 0x61,
    0x72, 0x00, 0x7A, 0x01, 0x01, 0x82, 0x01, 0x0B, 0x01, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x8A, 0x01, 0x07, 0x08, 0x01,
    0x12, 0x03, 0x0A, 0x01, 0x78, 0x8A, 0x01, 0x00,
  ]

  // int32_value: 0 string_value: "" inner { } plain: 1
  static let optionals: [UInt8] = [
    0x08, 0x00, 0x12, 0x00, 0x42, 0x00, 0x48, 0x01,
  ]

  @Test("an interop SimpleRequest decodes and re-encodes byte for byte")
  func simpleRequest() throws {
    let request = try Grpc_Testing_SimpleRequest(serializedBytes: Self.simpleRequest)
    #expect(request.responseType == .compressable)
    #expect(request.responseSize == 314_159)
    #expect(request.payload?.body == [0, 1, 2])
    #expect(request.fillUsername)
    #expect(!request.fillOauthScope)
    #expect(request.responseCompressed?.value == true)
    #expect(request.responseStatus?.code == 2)
    #expect(request.responseStatus?.message == "test status message")
    #expect(request.expectCompressed == Grpc_Testing_BoolValue())
    #expect(request.fillServerId)
    #expect(request.fillGrpclbRouteType)
    #expect(request.orcaPerQueryReport?.cpuUtilization == 0.5)
    #expect(try request.serializedBytes() == Self.simpleRequest)
  }

  @Test("every scalar type decodes and re-encodes byte for byte")
  func scalars() throws {
    let message = try Test_V1_Scalars(serializedBytes: Self.scalars)
    var expected = Test_V1_Scalars()
    expected.int32Value = -5
    expected.int64Value = 9_000_000_000
    expected.uint32Value = 4_000_000_000
    expected.uint64Value = 18_000_000_000_000_000_000
    expected.sint32Value = -3
    expected.sint64Value = -70_000_000_000
    expected.fixed32Value = 7
    expected.fixed64Value = 8
    expected.sfixed32Value = -9
    expected.sfixed64Value = -10
    expected.floatValue = 1.5
    expected.doubleValue = -2.25
    expected.boolValue = true
    expected.stringValue = "héllo"
    expected.bytesValue = [0xFF, 0x00]
    expected.color = .negative
    #expect(message == expected)
    #expect(try expected.serializedBytes() == Self.scalars)
  }

  @Test("packed and unpacked repeated fields decode and re-encode byte for byte")
  func repeated() throws {
    let message = try Test_V1_Repeated(serializedBytes: Self.repeated)
    var leaf = Test_V1_Outer.Inner.Leaf()
    leaf.label = "x"
    var inner = Test_V1_Outer.Inner()
    inner.value = 1
    inner.leaf = leaf
    var expected = Test_V1_Repeated()
    expected.int32Values = [1, -2, 300]
    expected.sint64Values = [-1, 1]
    expected.doubleValues = [0.5]
    expected.boolValues = [true, false]
    expected.stringValues = ["a", ""]
    expected.bytesValues = [[1]]
    expected.colors = [.red, .negative]
    expected.messages = [inner, Test_V1_Outer.Inner()]
    #expect(message == expected)
    #expect(try expected.serializedBytes() == Self.repeated)
  }

  @Test("proto3 optionals present with default values decode and re-encode byte for byte")
  func optionals() throws {
    let message = try Test_V1_Optionals(serializedBytes: Self.optionals)
    var expected = Test_V1_Optionals()
    expected.int32Value = 0
    expected.stringValue = ""
    expected.inner = Test_V1_Outer.Inner()
    expected.plain = 1
    #expect(message == expected)
    #expect(try expected.serializedBytes() == Self.optionals)
  }
}
