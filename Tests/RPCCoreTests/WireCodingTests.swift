import RPCCore
import Testing

@Suite("Status message percent-encoding")
struct StatusMessageCodingTests {
  @Test func printableASCIIIsSentAsIs() {
    #expect(StatusMessageCoding.encode("no such user: bob") == "no such user: bob")
  }

  @Test func percentAndNonASCIIAreEscaped() {
    #expect(StatusMessageCoding.encode("100% ✓\n") == "100%25 %E2%9C%93%0A")
  }

  @Test(arguments: ["", "plain", "100%", "multi\nline\ttext", "ünïcödé ✓ 🚀", "%%%"])
  func decodingInvertsEncoding(_ message: String) {
    #expect(StatusMessageCoding.decode(StatusMessageCoding.encode(message)) == message)
  }

  @Test func malformedEscapesAreKept() {
    #expect(StatusMessageCoding.decode("50%zz%4") == "50%zz%4")
  }
}

@Suite("grpc-timeout")
struct GRPCTimeoutTests {
  @Test(arguments: [
    ("1H", Duration.seconds(3600)), ("2M", .seconds(120)), ("3S", .seconds(3)),
    ("250m", .milliseconds(250)), ("10u", .microseconds(10)), ("99999999n", .nanoseconds(99_999_999)),
  ])
  func parsesEveryUnit(_ text: String, _ expected: Duration) {
    #expect(GRPCTimeout.parse(text) == expected)
  }

  @Test(arguments: ["", "S", "1", "123456789S", "1s", "-1S", "1.5S"])
  func rejectsMalformedValues(_ text: String) {
    #expect(GRPCTimeout.parse(text) == nil)
  }

  @Test func formatsWithinEightDigitsRoundingUp() {
    #expect(GRPCTimeout.format(.milliseconds(250)) == "250000000n" || GRPCTimeout.format(.milliseconds(250)) == "250000u")
    let long = GRPCTimeout.format(.seconds(86_400 * 365))
    #expect(long.count <= 9)
    #expect(GRPCTimeout.parse(long)! >= .seconds(86_400 * 365))
    #expect(GRPCTimeout.parse(GRPCTimeout.format(.nanoseconds(1)))! >= .nanoseconds(1))
  }

  @Test func timeoutsPastWhatNanosecondsHoldSaturateInsteadOfTrapping() {
    // Int64.max nanoseconds is 2 562 047.8 hours.
    #expect(GRPCTimeout.format(.seconds(Int64.max)) == "2562048H")
    #expect(GRPCTimeout.format(.seconds(20_000_000_000)) == "2562048H")
    #expect(GRPCTimeout.format(Duration(secondsComponent: 9_223_372_036, attosecondsComponent: 999_999_999_999_999_999)) == "2562048H")
  }
}

@Suite("Metadata")
struct MetadataTests {
  @Test func keysAreCaseInsensitiveAndOrderIsKept() {
    var metadata = Metadata()
    metadata.add("X-Trace", "a")
    metadata.add("x-trace", "b")
    #expect(metadata["X-TRACE"] == [.string("a"), .string("b")])
    #expect(metadata.firstString("x-trace") == "a")
  }

  @Test func binaryValuesRoundTripThroughBase64() {
    let bytes: [UInt8] = [0, 1, 2, 250, 251, 252, 253]
    #expect(Base64.decode(Base64.encode(bytes)) == bytes)
    #expect(Base64.decode("AAEC+vv8/Q==") == bytes)
    #expect(Base64.decode("AAEC+vv8/Q") == bytes)
    #expect(Base64.decode("not base64!") == nil)
  }

  @Test func keyValidationFollowsTheSpec() {
    #expect(Metadata.isValidKey("x-user-id"))
    #expect(Metadata.isValidKey("trace.bin_0"))
    #expect(!Metadata.isValidKey("Upper"))
    #expect(!Metadata.isValidKey(""))
    #expect(!Metadata.isValidKey("sp ace"))
  }
}

@Suite("Method paths and status codes")
struct MethodDescriptorTests {
  @Test func parsesWellFormedPaths() {
    let descriptor = MethodDescriptor(path: "/grpc.testing.TestService/UnaryCall")
    #expect(descriptor?.service == "grpc.testing.TestService")
    #expect(descriptor?.method == "UnaryCall")
  }

  @Test(arguments: ["", "/", "//", "/a", "/a/", "a/b", "/a/b/c"])
  func rejectsMalformedPaths(_ path: String) {
    #expect(MethodDescriptor(path: path) == nil)
  }

  @Test func thereAreSixteenErrorCodesPlusOK() {
    #expect(RPCError.Code.allCases.map(\.rawValue) == Array(1...16))
    #expect(RPCError.Code(rawValue: 0) == nil)
    #expect(RPCError.Code(rawValue: 17) == nil)
    #expect(RPCError.Code.unauthenticated.description == "UNAUTHENTICATED")
  }

  @Test func unknownErrorsHideTheirDetail() {
    struct Secret: Error {}
    let error = RPCError(mapping: Secret())
    #expect(error.code == .unknown)
    #expect(!error.message.contains("Secret"))
  }
}
