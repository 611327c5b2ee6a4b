import GRPCHealthV1Protos
import TestV1Protos
import RPCCore
import Testing

/// protobuf-c keeps strings as NUL-terminated `char *` and does not check UTF-8, so decoding
/// checks received strings itself: nothing is cut short or repaired without a word.
@Suite("Received strings are checked, not cut or repaired")
struct ReceivedStringsTests {
  /// Decoding `bytes` as `Message` fails with `code`, naming `fragments`.
  func expectRefused<Message: RPCMessage>(
    _ type: Message.Type, _ bytes: [UInt8], _ code: RPCError.Code, naming fragments: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    do {
      _ = try Message(serializedBytes: bytes)
      Issue.record("decoded", sourceLocation: sourceLocation)
    } catch let error as RPCError {
      #expect(error.code == code, sourceLocation: sourceLocation)
      for fragment in fragments {
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
      }
    } catch {
      Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func aNULInAStringIsInvalidArgumentNotACutString() {
    // service = "ab\0cd": valid protobuf that a NUL-terminated string cannot hold.
    self.expectRefused(
      Grpc_Health_V1_HealthCheckRequest.self, [0x0A, 0x05, 0x61, 0x62, 0x00, 0x63, 0x64], .invalidArgument,
      naming: ["grpc.health.v1.HealthCheckRequest", "`service`", "NUL"])
  }

  @Test func invalidUTF8IsADecodingFailureNotARepairedString() {
    // "\xC3(" (a lead byte without its continuation), then a lone continuation byte.
    for value: [UInt8] in [[0xC3, 0x28], [0x80], [0xED, 0xA0, 0x80]] {
      self.expectRefused(
        Grpc_Health_V1_HealthCheckRequest.self, [0x0A, UInt8(value.count)] + value, .internal,
        naming: ["grpc.health.v1.HealthCheckRequest", "`service`", "not valid UTF-8"])
    }
  }

  @Test func validUTF8ArrivesUnchanged() throws {
    var request = Grpc_Health_V1_HealthCheckRequest()
    request.service = "héllo ✓ 𝄞"
    #expect(try Grpc_Health_V1_HealthCheckRequest(serializedBytes: try request.serializedBytes()) == request)
  }

  @Test func stringsInNestedMessagesRepeatedFieldsAndMapsAreChecked() {
    // Outer.inner.leaf.label = "x\0".
    self.expectRefused(
      Test_V1_Outer.self, [0x0A, 0x06, 0x12, 0x04, 0x0A, 0x02, 0x78, 0x00], .invalidArgument,
      naming: ["test.v1.Outer", "`label` of test.v1.Outer.Inner.Leaf"])
    // A nested type decoded on its own takes protobuf-c's generic decoder: checked the same.
    self.expectRefused(
      Test_V1_Outer.Inner.Leaf.self, [0x0A, 0x01, 0xFF], .internal, naming: ["test.v1.Outer.Inner.Leaf", "UTF-8"])
    // string_values (field 14) = ["a", "b\0"].
    self.expectRefused(
      Test_V1_Repeated.self, [0x72, 0x01, 0x61, 0x72, 0x02, 0x62, 0x00], .invalidArgument,
      naming: ["test.v1.Repeated", "`string_values`"])
    // string_to_string (field 3) = {"k": "\xFF"}: the map entry's value.
    self.expectRefused(
      Test_V1_Maps.self, [0x1A, 0x06, 0x0A, 0x01, 0x6B, 0x12, 0x01, 0xFF], .internal,
      naming: ["test.v1.Maps", "`value`"])
  }

  @Test func wellFormedMessagesWithEveryKindOfStringStillDecode() throws {
    var maps = Test_V1_Maps()
    maps.stringToString = ["ключ": "значение", "": ""]
    maps.stringToInt32 = ["a": 1]
    #expect(try Test_V1_Maps(serializedBytes: try maps.serializedBytes()) == maps)
    var repeated = Test_V1_Repeated()
    repeated.stringValues = ["", "x", "日本"]
    #expect(try Test_V1_Repeated(serializedBytes: try repeated.serializedBytes()) == repeated)
  }
}
