import InteropService
import NIOCore
import NIOPosix
import GRPCTestingProtos
import RPCCore
import RPCHTTP2
import ServiceKit
import Synchronization
import Testing

/// Answers EmptyCall on the event loop; fails the method named by `failPath`; holds calls to
/// `holdPath` open until the client goes away; declines everything else.
private final class AnsweringHandler: EventLoopUnaryHandler {
  static let failPath = "/grpc.testing.TestService/UnimplementedCall"
  static let holdPath = "/grpc.testing.TestService/CacheableUnaryCall"
  let cancelled = Atomic<Int>(0)

  func handle(_ call: EventLoopUnaryCall) -> Bool {
    switch call.descriptor.path {
    case "/grpc.testing.TestService/EmptyCall":
      var headers = Metadata()
      headers.add("x-answered-on", "event-loop")
      var trailers = Metadata()
      trailers.add("x-request-bytes", String(call.request.count))
      call.respond(headers: headers, message: [], trailers: trailers)
      return true
    case Self.failPath:
      var trailers = Metadata()
      trailers.add("x-reason", "refused")
      trailers.add(Metadata.retryPushbackKey, "250")
      trailers.add("grpc-previous-rpc-attempts", "3")
      call.fail(Status(code: RPCError.Code.permissionDenied.rawValue, message: "not on this loop"), trailers: trailers)
      return true
    case Self.holdPath:
      call.onCancel = { self.cancelled.add(1, ordering: .relaxed) }
      return true
    default:
      return false
    }
  }
}

/// Answers EmptyCall later: after a loop timer (`x-later: timer`), or from a task that hands
/// the call back to its loop (`x-later: task`); a timer cancelled before it fires never answers
/// (`x-later: cancelled`, answered by a second timer).
private final class DeferringHandler: EventLoopUnaryHandler {
  func handle(_ call: EventLoopUnaryCall) -> Bool {
    func answer(_ how: String) {
      var headers = Metadata()
      headers.add("x-answered-by", how)
      call.respond(headers: headers, message: [], trailers: [:])
    }
    switch call.metadata.firstString("x-later") {
    case "timer":
      _ = call.schedule(after: .milliseconds(20)) { answer("timer") }
    case "cancelled":
      let first = call.schedule(after: .milliseconds(10)) { answer("cancelled timer") }
      first.cancel()
      _ = call.schedule(after: .milliseconds(30)) { answer("second timer") }
    case "task":
      let bound = EventLoopBound(call, loopOf: call)
      Task {
        try? await Task.sleep(for: .milliseconds(10))
        bound.execute { call in
          call.eventLoop.preconditionInEventLoop()
          var headers = Metadata()
          headers.add("x-answered-by", "task")
          call.respond(headers: headers, message: [], trailers: [:])
        }
      }
    default:
      return false
    }
    return true
  }
}

/// Forwards every TestService unary call to `backend` on a connection of the loop the call
/// arrived on, marking the answer; declines while that connection is not open (and opens it).
private final class ForwardingHandler: EventLoopUnaryHandler {
  let transports: EventLoopLocalTransports

  init(backendPort: Int) {
    self.transports = EventLoopLocalTransports(host: "127.0.0.1", port: backendPort, configuration: .init())
  }

  func handle(_ call: EventLoopUnaryCall) -> Bool {
    guard call.descriptor.service == "grpc.testing.TestService", let transport = self.transports.current() else {
      return false
    }
    let started = transport.startUnaryOnCurrentEventLoop(
      descriptor: call.descriptor, metadata: call.metadata, options: .defaults, request: call.request
    ) { result in
      switch result {
      case .success(let response):
        var headers = response.headers
        headers.add("x-forwarded-on", "event-loop")
        call.respond(headers: headers, message: response.message, trailers: response.trailers)
      case .failure(let error):
        call.fail(Status(error), trailers: error.metadata)
      }
    }
    guard let started else {
      // Open the connection for the next call; this one takes the ordinary route.
      Task { _ = try? await Grpc_Testing_TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall(.init()) }
      return false
    }
    call.onCancel = { started.cancel() }
    return true
  }

  func close() async {
    await self.transports.close()
  }
}

@Suite("Unary calls served on the event loop")
struct EventLoopUnaryHandlerTests {
  @Test func aStreamAnsweringAUnaryCallWithZeroOrTwoMessagesIsUnimplemented() async throws {
    // A response cardinality violation is UNIMPLEMENTED (statuscodes.md) on the event-loop
    // path too: StreamingOutputCall, called as if it were unary, answers as many messages as
    // the request asks for.
    let server = GRPCServer(configuration: .init(threads: 1), services: [TestService()])
    let address = try await server.start()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    let transport = HTTP2ClientTransport(host: "127.0.0.1", port: address.port!, eventLoopGroup: loop)
    _ = try await Grpc_Testing_TestService.Client(wrapping: RPCClient(transport: transport)).emptyCall(.init())
    let streaming = MethodDescriptor(service: "grpc.testing.TestService", method: "StreamingOutputCall")
    for count in [0, 2] {
      var request = Grpc_Testing_StreamingOutputCallRequest()
      request.responseParameters = Array(repeating: Grpc_Testing_ResponseParameters(), count: count)
      let bytes = try request.serializedBytes()
      let result = try await withCheckedThrowingContinuation { (done: CheckedContinuation<Result<UnaryResponse, RPCError>, any Error>) in
        loop.execute {
          let started = transport.startUnaryOnCurrentEventLoop(
            descriptor: streaming, metadata: [:], options: .defaults, request: bytes[...]
          ) { done.resume(returning: $0) }
          if started == nil { done.resume(throwing: RPCError(code: .unavailable, message: "not started")) }
        }
      }
      guard case .failure(let error) = result else {
        Issue.record("\(count) messages answered a unary call")
        continue
      }
      #expect(error.code == .unimplemented, "\(count) messages: \(error)")
    }
    await transport.close()
    await server.shutDown()
    try await group.shutdownGracefully()
  }

  @Test func aHandlerAnswersOnTheLoopAndDeclinedCallsTakeTheOrdinaryRoute() async throws {
    let handler = AnsweringHandler()
    try await withLoopbackServer(configuration: .init(threads: 1, eventLoopUnaryHandler: handler)) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let empty = try await service.emptyCall(request: ClientRequest(message: Grpc_Testing_Empty()))
      #expect(empty.metadata.firstString("x-answered-on") == "event-loop")
      #expect(empty.trailingMetadata.firstString("x-request-bytes") == "0")
      // Declined: the registered TestService answers it.
      let response = try await service.unaryCall(simpleRequest(responseSize: 10))
      #expect(response.payload?.body.count == 10)
    }
  }

  @Test(arguments: [("timer", "timer"), ("cancelled", "second timer"), ("task", "task")])
  func aHandlerCanAnswerLaterFromALoopTimerOrFromATask(later: String, answeredBy: String) async throws {
    try await withLoopbackServer(configuration: .init(threads: 1, eventLoopUnaryHandler: DeferringHandler())) { client in
      var metadata = Metadata()
      metadata.add("x-later", later)
      let response = try await Grpc_Testing_TestService.Client(wrapping: client).emptyCall(
        request: ClientRequest(message: Grpc_Testing_Empty(), metadata: metadata))
      #expect(response.metadata.firstString("x-answered-by") == answeredBy)
    }
  }

  @Test func aFailureOnTheLoopReachesTheClientWithItsTrailers() async throws {
    try await withLoopbackServer(configuration: .init(threads: 1, eventLoopUnaryHandler: AnsweringHandler())) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let error = await #expect(throws: RPCError.self) { _ = try await service.unimplementedCall(.init()) }
      #expect(error?.code == .permissionDenied)
      #expect(error?.message == "not on this loop")
      #expect(error?.metadata.firstString("x-reason") == "refused")
    }
  }

  @Test func aRetryPushbackIsTheOneReservedKeyATrailerCarriesBothWays() async throws {
    try await withLoopbackServer(configuration: .init(threads: 1, eventLoopUnaryHandler: AnsweringHandler())) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      let error = await #expect(throws: RPCError.self) { _ = try await service.unimplementedCall(.init()) }
      // Sent by the server and delivered by the client, for the caller's retry logic...
      #expect(error?.metadata.firstString(Metadata.retryPushbackKey) == "250")
      // ...while any other `grpc-` key stays out of metadata.
      #expect(error?.metadata.firstString("grpc-previous-rpc-attempts") == nil)
    }
  }

  @Test func aClientThatGivesUpCancelsTheCallOnTheLoop() async throws {
    let handler = AnsweringHandler()
    try await withLoopbackServer(configuration: .init(threads: 1, eventLoopUnaryHandler: handler)) { client in
      let service = Grpc_Testing_TestService.Client(wrapping: client)
      var options = CallOptions.defaults
      options.timeout = .milliseconds(100)
      let error = await #expect(throws: RPCError.self) {
        _ = try await service.cacheableUnaryCall(simpleRequest(responseSize: 1), options: options)
      }
      #expect(error?.code == .deadlineExceeded)
      for _ in 0..<100 where handler.cancelled.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
      #expect(handler.cancelled.load(ordering: .relaxed) == 1)
    }
  }

  @Test func callsForwardedBetweenConnectionsOfOneLoopKeepMessagesStatusesAndMetadata() async throws {
    let backend = GRPCServer(configuration: .init(threads: 1), services: [TestService()])
    let backendAddress = try await backend.start()
    let forwarding = ForwardingHandler(backendPort: backendAddress.port!)
    do {
      try await withLoopbackServer(configuration: .init(threads: 1, eventLoopUnaryHandler: forwarding)) { client in
        let service = Grpc_Testing_TestService.Client(wrapping: client)
        var forwarded = false
        for _ in 0..<100 where !forwarded {
          let response = try await service.emptyCall(request: ClientRequest(message: Grpc_Testing_Empty()))
          forwarded = response.metadata.firstString("x-forwarded-on") == "event-loop"
          if !forwarded { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(forwarded)

        var metadata = Metadata()
        metadata.add("x-grpc-test-echo-initial", "through")
        var request = simpleRequest(responseSize: 70_000)
        request.payload = payload(50_000)
        let response = try await service.unaryCall(request: ClientRequest(message: request, metadata: metadata))
        #expect(response.message.payload?.body.count == 70_000)
        #expect(response.metadata.firstString("x-grpc-test-echo-initial") == "through")
        #expect(response.metadata.firstString("x-forwarded-on") == "event-loop")

        let error = await #expect(throws: RPCError.self) {
          _ = try await service.unaryCall(simpleRequest(responseSize: 0, status: (9, "backend says no")))
        }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message == "backend says no")
      }
    } catch {
      await forwarding.close()
      await backend.shutDown()
      throw error
    }
    await forwarding.close()
    await backend.shutDown()
  }
}
