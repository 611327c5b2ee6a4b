import InteropService
import GRPCTestingProtos
import RPCCore
import RPCHTTP2
import Testing

@Suite("Streaming calls and deadlines over loopback HTTP/2")
struct StreamingCallTests {
  @Test(arguments: InteropTestCases.names)
  func interopCasePassesAgainstOurOwnServer(_ name: String) async throws {
    try await withLoopbackServer { client in
      try await InteropTestCases(client: client).run(name)
    }
  }

  @Test func deadlineEndsASleepingHandlerWithDeadlineExceeded() async throws {
    try await withLoopbackServer { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var request = Grpc_Testing_StreamingOutputCallRequest()
      var parameters = Grpc_Testing_ResponseParameters()
      parameters.size = 1
      parameters.intervalUs = 5_000_000
      request.responseParameters = [parameters]
      let started = ContinuousClock.now
      let error = await #expect(throws: RPCError.self) {
        try await service.streamingOutputCall(
          request: ClientRequest(message: request), options: CallOptions(timeout: .milliseconds(200))
        ) { response in
          for try await _ in response.messages {}
        }
      }
      #expect(error?.code == .deadlineExceeded)
      #expect(ContinuousClock.now - started < .seconds(2))
    }
  }
}
