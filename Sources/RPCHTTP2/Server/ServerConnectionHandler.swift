#if canImport(Glibc)
internal import Glibc
#endif
internal import CNGHTTP2
internal import Logging
internal import NIOCore
internal import RPCCore

/// Serves gRPC on one HTTP/2 connection: bytes from the socket go through nghttp2, requests
/// are routed to handlers, responses go back out.
///
/// Everything here runs on the channel's event loop. Handler tasks prefer the same loop's
/// executor, so a unary call is received, handled and answered on one thread; calls from other
/// threads hop onto the loop (see ``ServerStreamHandle``).
final class ServerConnectionHandler: ChannelInboundHandler, NGHTTP2SessionDelegate {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  struct Configuration {
    var router: RPCRouter
    var interceptors: [any ServerInterceptor]
    var maxReceiveMessageBytes: Int
    var settings: NGHTTP2Settings
    var logger: Logger
    /// A connection that sends nothing for this long after connecting is closed.
    var handshakeTimeout: TimeAmount
    /// Offered every unary call before a task is started for it.
    var eventLoopUnaryHandler: (any EventLoopUnaryHandler)?
    /// Per-loop busy pollers, when the server is configured with a busy-poll window.
    var busyPollers: [ObjectIdentifier: EventLoopBusyPoller] = [:]
  }

  /// Asks a connection to finish its open calls and close (GOAWAY, then drain).
  struct GracefulShutdownEvent {}

  private let configuration: Configuration
  private let session: NGHTTP2Session
  private var context: ChannelHandlerContext?
  private var streams = StreamTable<ServerStream>()
  private var flushScheduled = false
  private var executor: EventLoopTaskExecutor?
  private var busyPoller: EventLoopBusyPoller?
  /// The stream whose header block nghttp2 is delivering field by field.
  private var receivingHeaders: ServerStream?
  /// Custom header names and values seen lately on this connection: a client sends the same
  /// ones (user agent, token, tenant) on every call, so they become Strings once.
  private var recentStrings = RecentStrings()
  private var remotePeer = ""
  private var localPeer = ""
  private var closing = false
  /// The session is over and the write side closed; input is read and dropped until the peer
  /// closes (see ``closeLingering(context:)``).
  private var lingering = false
  private var shuttingDown = false
  /// The last request's `:path`, reused while calls name the same method (no String per call).
  private var lastPath = ""
  private let scratchHeaders = ScratchHeaders()

  init(configuration: Configuration) throws {
    self.configuration = configuration
    self.session = try NGHTTP2Session(role: .server, settings: configuration.settings)
    self.session.delegate = self
  }

  // MARK: channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    self.executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
    self.busyPoller = self.configuration.busyPollers[ObjectIdentifier(context.eventLoop)]
    self.remotePeer = Self.describe(context.channel.remoteAddress)
    self.localPeer = Self.describe(context.channel.localAddress)
  }

  func channelActive(context: ChannelHandlerContext) {
    self.flush()
    context.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.handshakeTimeout) {
      // Closed unless the client finished its connection preface (its first SETTINGS) in time:
      // a byte at a time does not keep a connection.
      guard !self.session.receivedPeerSettings, let context = self.context else { return }
      self.configuration.logger.debug(
        "Closing a connection that did not complete its preface", metadata: ["rpc.peer": "\(self.remotePeer)"])
      context.close(promise: nil)
    }
    context.fireChannelActive()
  }

  /// GOAWAY in two steps, as RFC 9113 6.8 suggests: a notice that stops new streams while
  /// letting in-flight ones arrive, then the final GOAWAY naming the last stream served. The
  /// connection closes once its open streams finish.
  private func beginGracefulShutdown(context: ChannelHandlerContext) {
    guard !self.shuttingDown else { return }
    self.shuttingDown = true
    self.session.submitShutdownNotice()
    self.flush()
    context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) {
      self.session.submitGoAway(errorCode: NGHTTP2_NO_ERROR.rawValue)
      self.flush()
      self.closeIfDrained()
    }
  }

  private func closeIfDrained() {
    guard self.shuttingDown, self.streams.isEmpty, let context else { return }
    self.flush()
    context.close(promise: nil)
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    self.closeAllStreams()
    self.context = nil
  }

  func channelInactive(context: ChannelHandlerContext) {
    self.closeAllStreams()
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !self.lingering else { return }
    let buffer = self.unwrapInboundIn(data)
    self.busyPoller?.noteActivity()
    do {
      try buffer.withUnsafeReadableBytes { try self.session.receive($0) }
    } catch {
      // nghttp2 has queued a GOAWAY for fatal protocol errors; send it and close.
      self.configuration.logger.debug(
        "HTTP/2 protocol error", metadata: ["rpc.peer": "\(self.remotePeer)", "error": "\(error)"])
      self.closing = true
      self.flush()
      self.closeLingering(context: context)
    }
  }

  /// Closes once this side has ended the session (its GOAWAY just written): the write side
  /// first, then whatever the peer still sends is read and dropped until it closes too, for at
  /// most two seconds. Closing outright while the peer's bytes are still arriving makes the
  /// kernel answer them with a TCP reset, which can destroy the GOAWAY before the peer reads it.
  private func closeLingering(context: ChannelHandlerContext) {
    guard !self.lingering else { return }
    self.lingering = true
    self.closing = true
    let halfClosed = context.eventLoop.makePromise(of: Void.self)
    context.close(mode: .output, promise: halfClosed)
    halfClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
    context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    self.flush()
    context.fireChannelReadComplete()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is GracefulShutdownEvent {
      self.beginGracefulShutdown(context: context)
      return
    }
    if let event = event as? ChannelEvent, event == .inputClosed {
      context.close(promise: nil)
      return
    }
    context.fireUserInboundEventTriggered(event)
  }

  // MARK: output

  /// Writes every frame nghttp2 has queued.
  func flush() {
    guard !self.lingering, let context else { return }
    var output: ByteBuffer?
    do {
      try self.session.send { bytes in
        if output == nil {
          output = context.channel.allocator.buffer(capacity: max(bytes.count, 1024))
        }
        output!.writeBytes(bytes)
      }
    } catch {
      context.close(promise: nil)
      return
    }
    if let output {
      context.writeAndFlush(self.wrapOutboundOut(output), promise: nil)
    }
    if !self.session.isActive {
      self.closeLingering(context: context)
    }
  }

  /// Flushes once the current event-loop tick is done, so a handler's headers, message and
  /// trailers leave in one write.
  func scheduleFlush() {
    guard !self.flushScheduled, let context else { return }
    self.flushScheduled = true
    context.eventLoop.assumeIsolated().execute {
      self.flushScheduled = false
      self.flush()
    }
  }

  // MARK: nghttp2 events

  func sessionDidBeginHeaders(streamID: Int32) {
    if let stream = self.streams[streamID] {
      self.receivingHeaders = stream
    } else {
      let stream = ServerStream(id: streamID, maxMessageBytes: self.configuration.maxReceiveMessageBytes)
      self.streams[streamID] = stream
      self.receivingHeaders = stream
      self.busyPoller?.streamOpened()
    }
  }

  func sessionDidReceiveHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    // A header block's fields all belong to the stream it began (no dictionary lookup per field).
    let receiving = self.receivingHeaders
    guard let stream = receiving?.id == streamID ? receiving : self.streams[streamID] else { return }
    guard !stream.headersComplete, !stream.headerListTooLarge else { return }
    // HPACK lets a small block name the same large table entry again and again, so the
    // advertised limit is enforced here, on what the fields add up to.
    stream.headerListBytes += name.count + value.count + 32
    if stream.headerListBytes > Int(self.configuration.settings.maxHeaderListSize) {
      stream.headerListTooLarge = true
      stream.metadata = Metadata()
      return
    }
    // Known names are matched on bytes; only values that are kept become Strings.
    switch HeaderName(name) {
    case .method: stream.method = Self.commonValue(value, "POST")
    case .path:
      if !utf8Equals(self.lastPath, value) { self.lastPath = String(decoding: value, as: UTF8.self) }
      stream.path = self.lastPath
    case .contentType: stream.contentType = Self.commonValue(value, "application/grpc")
    case .timeout: stream.timeout = String(decoding: value, as: UTF8.self)
    case .encoding: stream.encoding = String(decoding: value, as: UTF8.self)
    case .acceptEncoding:
      let value = String(decoding: value, as: UTF8.self)
      if value.split(separator: ",").contains(where: { $0.trimmingASCIISpaces() == "gzip" }) {
        stream.acceptsGzip = true
      }
    case .ignored, .reserved:
      return
    case .custom:
      stream.metadata.addReceivedHeader(name: self.recentStrings.string(for: name), value: self.recentStrings.string(for: value))
    }
  }


  func sessionDidReceiveHeaders(streamID: Int32, endStream: Bool) {
    self.receivingHeaders = nil
    guard let stream = self.streams[streamID] else { return }
    if stream.headersComplete {
      // Trailers from the client: only END_STREAM matters.
      if endStream { self.endOfRequest(stream) }
      return
    }
    stream.headersComplete = true
    if stream.headerListTooLarge {
      self.finish(
        stream,
        status: Status(
          code: RPCError.Code.resourceExhausted.rawValue,
          message: "The request's header list is larger than \(self.configuration.settings.maxHeaderListSize) bytes."),
        trailers: [:])
      return
    }
    self.routeRequest(stream)
    if endStream { self.endOfRequest(stream) }
  }

  func sessionDidReceiveData(streamID: Int32, bytes: UnsafeRawBufferPointer) {
    // The connection window always reopens at once; per-stream windows carry back-pressure.
    self.session.consumeConnection(bytes.count)
    guard let stream = self.streams[streamID], !stream.finished, stream.route != nil else {
      self.session.consumeStream(streamID, bytes.count)
      return
    }
    if stream.hasBufferedMessage && stream.handlerStarted {
      // The handler has not taken the messages already here: hold the window closed.
      stream.unconsumedBytes += bytes.count
    } else {
      self.session.consumeStream(streamID, bytes.count)
    }
    stream.deframer.append(bytes)
    self.drainDeframer(stream)
  }

  /// Reopens the stream window for bytes held back while messages waited for the handler.
  private func releaseWindow(_ stream: ServerStream) {
    guard stream.unconsumedBytes > 0 else { return }
    self.session.consumeStream(stream.id, stream.unconsumedBytes)
    stream.unconsumedBytes = 0
    self.scheduleFlush()
  }

  func sessionDidReceiveEndOfStream(streamID: Int32) {
    guard let stream = self.streams[streamID] else { return }
    self.endOfRequest(stream)
  }

  func sessionDidCloseStream(streamID: Int32, errorCode: UInt32) {
    guard let stream = self.streams.removeValue(forKey: streamID) else { return }
    self.busyPoller?.streamsClosed()
    self.close(stream, cancelled: !stream.finished || errorCode != 0)
    if self.shuttingDown && self.streams.isEmpty {
      context?.eventLoop.assumeIsolated().execute { self.closeIfDrained() }
    }
  }

  func sessionDidReceiveGoAway(lastStreamID: Int32, errorCode: UInt32) {}

  func sessionDidReceivePingAck() {}

  func sessionDidSendEndOfStream(streamID: Int32) {
    guard let stream = self.streams[streamID], !stream.inboundClosed else { return }
    // The response is complete but the client is still sending: stop it (RFC 9113 8.1).
    self.session.submitReset(streamID: streamID, errorCode: NGHTTP2_NO_ERROR.rawValue)
  }

  func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> NGHTTP2DataRead {
    guard let stream = self.streams[streamID] else {
      return .bytes(count: 0, endOfData: true, sendTrailers: false)
    }
    let count = stream.outbound.read(into: buffer)
    if count > 0 { stream.writeGate.drained(pendingBytes: stream.outbound.pendingBytes) }
    if stream.outbound.isEmpty, stream.finished, let (status, trailers) = stream.pendingTrailers {
      stream.pendingTrailers = nil
      self.scratchHeaders.with { block in
        Self.addTrailers(status: status, trailers: trailers, to: &block)
        self.session.submitTrailers(streamID: streamID, headers: block)
      }
      return .bytes(count: count, endOfData: true, sendTrailers: true)
    }
    if count == 0 {
      stream.dataDeferred = true
      return .deferred
    }
    return .bytes(count: count, endOfData: false, sendTrailers: false)
  }

  // MARK: request handling

  private func routeRequest(_ stream: ServerStream) {
    guard stream.method == "POST" else {
      self.respondHTTPError(stream, status: "405")
      return
    }
    guard let contentType = stream.contentType, Self.isGRPCContentType(contentType) else {
      self.respondHTTPError(stream, status: "415")
      return
    }
    guard let path = stream.path, let route = self.configuration.router.method(forPath: path) else {
      let path = stream.path ?? ""
      self.finish(stream, status: Status(code: RPCError.Code.unimplemented.rawValue, message: "Method not found: \(path)"), trailers: [:])
      return
    }
    if let encoding = stream.encoding, encoding != "identity", encoding != "gzip" {
      self.finish(
        stream,
        status: Status(code: RPCError.Code.unimplemented.rawValue, message: "Message encoding '\(encoding)' is not supported."),
        trailers: [:])
      return
    }
    var timeout: Duration?
    if let text = stream.timeout {
      timeout = GRPCTimeout.parse(text)
      guard timeout != nil else {
        // INTERNAL, as other gRPC servers answer: the library never generates INVALID_ARGUMENT
        // (statuscodes.md), which belongs to the application.
        self.finish(
          stream, status: Status(code: RPCError.Code.internal.rawValue, message: "Malformed grpc-timeout '\(text)'."),
          trailers: [:])
        return
      }
    }
    stream.route = route
    if let duration = timeout {
      // The deadline runs from the request's headers, not from when its last message arrives.
      stream.deadline = ContinuousClock.now.advanced(by: duration)
      if route.kind.isClientSingle, let context {
        stream.deadlineTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(duration)) {
          stream.deadlineTimer = nil
          guard !stream.handlerStarted, !stream.finished else { return }
          self.failRequest(stream, .deadlineExceeded, "Deadline exceeded before the request arrived.")
          self.scheduleFlush()
        }
      }
    }
    if !route.kind.isClientSingle {
      self.startHandler(stream)
    }
  }

  private func drainDeframer(_ stream: ServerStream) {
    while !stream.finished {
      // A streaming request's messages wait in the deframer, as received (compressed), while
      // one already waits for the handler: one window of gzip bombs would otherwise decompress
      // into hundreds of MB at once. The stream's window stays closed meanwhile; taking the
      // message drains the next one.
      if stream.route?.kind.isClientSingle != true, stream.hasBufferedMessage, stream.receiveWaiter == nil { return }
      let message: GRPCMessageDeframer.Message?
      do {
        message = try stream.deframer.next()
      } catch .messageTooLarge(let length, let limit) {
        self.failRequest(stream, .resourceExhausted, "Received message larger than max (\(length) vs. \(limit)).")
        return
      } catch {
        self.failRequest(stream, .internal, "Invalid gRPC message prefix.")
        return
      }
      guard let message else { return }
      if stream.route?.kind.isClientSingle == true, stream.bufferedMessageCount >= 1 || stream.handlerStarted {
        self.failRequest(stream, .unimplemented, "Expected exactly one request message, got several.")
        return
      }
      var bytes = message.bytes
      if message.compressed {
        guard stream.encoding == "gzip" else {
          self.failRequest(stream, .internal, "Compressed message received without a grpc-encoding.")
          return
        }
        do {
          bytes = ArraySlice(try Gzip.decompress(bytes, limit: self.configuration.maxReceiveMessageBytes))
        } catch let error as RPCError {
          self.failRequest(stream, error.code, error.message)
          return
        } catch {
          self.failRequest(stream, .internal, "Could not decompress a message.")
          return
        }
      }
      if let waiter = stream.receiveWaiter {
        stream.receiveWaiter = nil
        waiter.resume(returning: (bytes, message.compressed))
      } else {
        stream.inbound.append((bytes, message.compressed))
      }
    }
  }

  private func endOfRequest(_ stream: ServerStream) {
    guard !stream.inboundClosed else { return }
    stream.inboundClosed = true
    guard !stream.finished, let route = stream.route else { return }
    // Bytes left in the deframer are an unfinished message, unless whole messages wait there
    // behind one the handler has not taken yet (checked again as they are taken).
    if stream.deframer.bufferedByteCount > 0 && !stream.hasBufferedMessage {
      self.failRequest(stream, .internal, "Request ended in the middle of a message.")
      return
    }
    if route.kind.isClientSingle && !stream.handlerStarted {
      guard stream.bufferedMessageCount == 1 else {
        self.failRequest(stream, .unimplemented, "Expected exactly one request message, got none.")
        return
      }
      self.startHandler(stream)
    }
    if let waiter = stream.receiveWaiter {
      stream.receiveWaiter = nil
      waiter.resume(returning: nil)
    }
  }

  private func startHandler(_ stream: ServerStream) {
    guard let route = stream.route, let executor, let context else { return }
    stream.handlerStarted = true
    stream.deadlineTimer?.cancel()
    stream.deadlineTimer = nil
    let deadline = stream.deadline
    if route.kind == .unary, let loopHandler = self.configuration.eventLoopUnaryHandler,
      let request = stream.peekMessage()
    {
      let call = EventLoopUnaryCall(
        descriptor: route.descriptor, metadata: stream.metadata, request: request.bytes, deadline: deadline,
        remotePeer: self.remotePeer, eventLoop: context.eventLoop, connection: self, streamID: stream.id)
      if loopHandler.handle(call) {
        _ = stream.popMessage()
        if !call.isEnded { stream.loopCall = call }
        return
      }
    }
    let compression = ServerMessageCompression()
    stream.compression = compression
    let serverContext = ServerContext(
      descriptor: route.descriptor, remotePeer: self.remotePeer, localPeer: self.localPeer,
      deadline: deadline, compression: compression)
    let handle = ServerStreamHandle(
      connection: UncheckedSendableBox(self), streamID: stream.id, eventLoop: context.eventLoop,
      compression: compression, acceptsGzip: stream.acceptsGzip)
    let metadata = stream.metadata
    let interceptors = self.configuration.interceptors
    stream.task = Task(executorPreference: executor) {
      await route.run(
        stream: handle, metadata: metadata, context: serverContext, interceptors: interceptors)
    }
  }

  /// Ends a request the transport cannot accept, cancelling its handler.
  private func failRequest(_ stream: ServerStream, _ code: RPCError.Code, _ message: String) {
    self.finish(stream, status: Status(code: code.rawValue, message: message), trailers: [:])
    stream.task?.cancel()
    if let waiter = stream.receiveWaiter {
      stream.receiveWaiter = nil
      waiter.resume(throwing: RPCError(code: code, message: message))
    }
  }

  private func respondHTTPError(_ stream: ServerStream, status: String) {
    stream.finished = true
    var headers = HeaderBlock()
    headers.add(":status", status)
    _ = self.session.submitResponse(streamID: stream.id, headers: headers, hasBody: false)
    self.scheduleFlush()
  }

  private func close(_ stream: ServerStream, cancelled: Bool) {
    stream.closed = true
    stream.finished = true
    stream.deadlineTimer?.cancel()
    stream.deadlineTimer = nil
    if cancelled {
      stream.task?.cancel()
      stream.loopCall?.cancelled()
    }
    stream.loopCall = nil
    if let waiter = stream.receiveWaiter {
      stream.receiveWaiter = nil
      waiter.resume(throwing: RPCError(code: .cancelled, message: "The client cancelled the call."))
    }
    stream.writeGate.fail(RPCError(code: .cancelled, message: "The client cancelled the call."))
  }

  private func closeAllStreams() {
    let streams = self.streams
    self.streams = StreamTable()
    self.busyPoller?.streamsClosed(streams.count)
    for stream in streams.values { self.close(stream, cancelled: true) }
  }

  // MARK: operations from handlers (on the event loop)

  enum ReceiveResult {
    case message(ArraySlice<UInt8>, compressed: Bool)
    case end
    case wait
  }

  func takeMessage(streamID: Int32) throws -> ReceiveResult {
    guard let stream = self.streams[streamID], !stream.closed else {
      throw RPCError(code: .cancelled, message: "The call has ended.")
    }
    if let message = stream.popMessage() {
      self.drainDeframer(stream)
      if !stream.hasBufferedMessage { self.releaseWindow(stream) }
      if stream.inboundClosed, !stream.hasBufferedMessage, stream.deframer.bufferedByteCount > 0, !stream.finished {
        self.failRequest(stream, .internal, "Request ended in the middle of a message.")
      }
      return .message(message.bytes, compressed: message.compressed)
    }
    if stream.inboundClosed || stream.finished { return .end }
    return .wait
  }

  func waitForMessage(
    streamID: Int32, continuation: CheckedContinuation<(bytes: ArraySlice<UInt8>, compressed: Bool)?, any Error>
  ) {
    do {
      switch try self.takeMessage(streamID: streamID) {
      case .message(let bytes, let compressed): continuation.resume(returning: (bytes, compressed))
      case .end: continuation.resume(returning: nil)
      case .wait:
        guard let stream = self.streams[streamID], stream.receiveWaiter == nil else {
          continuation.resume(throwing: RPCError(code: .internal, message: "Concurrent reads of one request stream."))
          return
        }
        stream.receiveWaiter = continuation
      }
    } catch {
      continuation.resume(throwing: error)
    }
  }

  func cancelWaiters(streamID: Int32) {
    guard let stream = self.streams[streamID] else { return }
    if let waiter = stream.receiveWaiter {
      stream.receiveWaiter = nil
      waiter.resume(throwing: CancellationError())
    }
    stream.writeGate.fail(CancellationError())
  }

  func sendMetadata(streamID: Int32, metadata: Metadata) {
    guard let stream = self.streams[streamID], !stream.finished, !stream.headersSubmitted else { return }
    self.submitHeaders(stream, metadata: metadata)
  }

  private func submitHeaders(_ stream: ServerStream, metadata: Metadata) {
    // Submitted (and copied by nghttp2) at once: the connection's scratch block serves.
    self.scratchHeaders.with { headers in
      headers.add(":status", "200")
      headers.add("content-type", "application/grpc")
      if stream.acceptsGzip && stream.compression?.compressesResponses == true {
        headers.add("grpc-encoding", "gzip")
        stream.compressesResponses = true
      }
      headers.add("grpc-accept-encoding", "gzip")
      headers.add(metadata: metadata)
      stream.headersSubmitted = true
      stream.dataDeferred = false
      _ = self.session.submitResponse(streamID: stream.id, headers: headers, hasBody: true)
    }
    self.scheduleFlush()
  }

  /// Queues a framed message. Returns `true` when the caller should wait for the queue to drain.
  func enqueue(streamID: Int32, message: OutgoingMessage) throws -> Bool {
    guard let stream = self.streams[streamID], !stream.finished else {
      throw RPCError(code: .cancelled, message: "The call has ended.")
    }
    if !stream.headersSubmitted { self.submitHeaders(stream, metadata: [:]) }
    try message.append(to: &stream.outbound, compress: stream.compressesResponses)
    if stream.dataDeferred {
      stream.dataDeferred = false
      self.session.resumeData(streamID: streamID)
    }
    self.scheduleFlush()
    return StreamWriteGate.mustWait(pendingBytes: stream.outbound.pendingBytes)
  }

  func waitForWritable(streamID: Int32, continuation: CheckedContinuation<Void, any Error>) {
    guard let stream = self.streams[streamID], !stream.finished else {
      continuation.resume(throwing: RPCError(code: .cancelled, message: "The call has ended."))
      return
    }
    stream.writeGate.wait(pendingBytes: stream.outbound.pendingBytes, continuation: continuation)
  }

  func finish(streamID: Int32, status: Status, trailers: Metadata) {
    guard let stream = self.streams[streamID] else { return }
    self.finish(stream, status: status, trailers: trailers)
  }

  private func finish(_ stream: ServerStream, status: Status, trailers: Metadata) {
    guard !stream.finished else { return }
    stream.finished = true
    if !stream.headersSubmitted {
      // Trailers-only response: one HEADERS frame with END_STREAM.
      stream.headersSubmitted = true
      self.scratchHeaders.with { block in
        block.add(":status", "200")
        block.add("content-type", "application/grpc")
        block.add("grpc-accept-encoding", "gzip")
        Self.addTrailers(status: status, trailers: trailers, to: &block)
        _ = self.session.submitResponse(streamID: stream.id, headers: block, hasBody: false)
      }
    } else {
      // Sent after the last message has been copied out (``sessionReadData``).
      stream.pendingTrailers = (status, trailers)
      if stream.dataDeferred {
        stream.dataDeferred = false
        self.session.resumeData(streamID: stream.id)
      }
    }
    self.scheduleFlush()
  }

  private static func addTrailers(status: Status, trailers: Metadata, to block: inout HeaderBlock) {
    block.add("grpc-status", String(status.code))
    if !status.message.isEmpty {
      block.add("grpc-message", StatusMessageCoding.encode(status.message))
    }
    block.add(metadata: trailers)
  }

  // MARK: helpers

  /// `value` as a String, without building one when it is `common` (a literal: no allocation).
  static func commonValue(_ value: UnsafeRawBufferPointer, _ common: String) -> String {
    utf8Equals(common, value) ? common : String(decoding: value, as: UTF8.self)
  }


  static func isGRPCContentType(_ value: String) -> Bool {
    // Fast path: what nearly every client sends.
    if value == "application/grpc" || value == "application/grpc+proto" { return true }
    let lowered = value.lowercased()
    guard lowered.hasPrefix("application/grpc") else { return false }
    let rest = lowered.dropFirst("application/grpc".count)
    return rest.isEmpty || rest.hasPrefix("+proto") || rest.hasPrefix(";")
  }

  static func describe(_ address: SocketAddress?) -> String {
    guard let address else { return "unknown" }
    switch address {
    case .v4(let v4): return "ipv4:\(address.ipAddress ?? v4.host):\(address.port ?? 0)"
    case .v6: return "ipv6:[\(address.ipAddress ?? "")]:\(address.port ?? 0)"
    case .unixDomainSocket: return "unix:\(address.pathname ?? "")"
    }
  }
}

/// Request header names the server treats specially, matched on their bytes.
enum HeaderName {
  case method, path, contentType, timeout, encoding, acceptEncoding
  /// Headers with no meaning for a handler (`:scheme`, `te`, ...).
  case ignored
  /// Other pseudo-headers and `grpc-` headers: never delivered as metadata.
  case reserved
  case custom

  init(_ name: UnsafeRawBufferPointer) {
    func equals(_ literal: StaticString) -> Bool {
      literal.utf8CodeUnitCount == name.count
        && memcmp(literal.utf8Start, name.baseAddress!, name.count) == 0
    }
    guard let first = name.first else {
      self = .custom
      return
    }
    if first == UInt8(ascii: ":") {
      if equals(":path") { self = .path } else if equals(":method") { self = .method } else {
        self = equals(":scheme") || equals(":authority") ? .ignored : .reserved
      }
      return
    }
    if equals("content-type") { self = .contentType }
    else if equals("te") || equals("user-agent") || equals("content-length") { self = .ignored }
    else if equals("grpc-timeout") { self = .timeout }
    else if equals("grpc-encoding") { self = .encoding }
    else if equals("grpc-accept-encoding") { self = .acceptEncoding }
    else if name.count >= 5 && first == UInt8(ascii: "g") && equals5(name, "grpc-") { self = .reserved }
    else { self = .custom }
  }
}

func equals5(_ name: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
  memcmp(prefix.utf8Start, name.baseAddress!, 5) == 0
}

/// Carries a non-sendable reference across tasks.
///
/// Safe here because every use of the wrapped connection handler first checks that it runs on
/// the handler's event loop, or hops there with `EventLoop.execute`.
struct UncheckedSendableBox<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

extension Substring {
  func trimmingASCIISpaces() -> Substring {
    var result = self
    while result.first == " " { result = result.dropFirst() }
    while result.last == " " { result = result.dropLast() }
    return result
  }
}
