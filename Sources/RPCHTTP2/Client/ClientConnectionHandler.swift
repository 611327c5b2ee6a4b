#if canImport(Glibc)
internal import Glibc
#endif
internal import CNGHTTP2
internal import NIOCore
internal import RPCCore

/// One client call's stream state. Owned by its ``ClientConnectionHandler``; event loop only.
final class ClientStream {
  let key: Int
  var id: Int32 = -1
  let path: String
  let requestMetadata: Metadata
  let options: CallOptions

  // Outbound.
  var opened = false
  var outbound = OutboundMessages()
  var endOfStreamQueued = false
  var endOfStreamSent = false
  var dataDeferred = false
  var writeGate = StreamWriteGate()

  // Inbound.
  var responseHeadersDone = false
  var httpStatus: String?
  var contentType: String?
  var grpcStatus: String?
  var grpcMessage: String?
  var grpcEncoding: String?
  var collecting = Metadata()
  /// The current header block's size as RFC 9113 6.5.2 counts it, against the limit this
  /// client advertised (nghttp2 does not enforce it).
  var headerListBytes = 0
  var initialMetadata: Metadata?
  var trailingMetadata: Metadata?
  var deframer: GRPCMessageDeframer
  var inbound = MessageQueue<ArraySlice<UInt8>>()
  /// Received bytes held back from the stream window while messages wait for the caller.
  var unconsumedBytes = 0
  var finalError: RPCError?
  var finished = false

  var metadataWaiters: [CheckedContinuation<Metadata, any Error>] = []
  var messageWaiter: CheckedContinuation<ArraySlice<UInt8>?, any Error>?
  var trailerWaiters: [CheckedContinuation<Metadata, Never>] = []
  var deadlineTask: Scheduled<Void>?
  /// When the call's timeout runs out, if it has one.
  var deadline: NIODeadline?
  /// Set for a call started with ``ClientConnectionHandler/startUnary``: told the outcome
  /// instead of waiters.
  var unaryCompletion: ((Result<UnaryResponse, RPCError>) -> Void)?

  init(key: Int, path: String, metadata: Metadata, options: CallOptions, maxMessageBytes: Int) {
    self.key = key
    self.path = path
    self.requestMetadata = metadata
    self.options = options
    self.deframer = GRPCMessageDeframer(maxMessageBytes: options.maxReceiveMessageBytes ?? maxMessageBytes)
  }

  func popMessage() -> ArraySlice<UInt8>? { self.inbound.pop() }
}

/// Drives one client HTTP/2 connection: opens streams for calls, sends their messages and
/// delivers responses. Event loop only; callers reach it through ``ClientStreamHandle``.
final class ClientConnectionHandler: ChannelInboundHandler, NGHTTP2SessionDelegate {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private let session: NGHTTP2Session
  /// The SETTINGS this client sends (and holds peers to: the header list size).
  private let advertisedSettings = NGHTTP2Settings()
  private let authority: String
  private let maxReceiveMessageBytes: Int
  private var context: ChannelHandlerContext?
  private var streamsByKey = StreamTable<ClientStream>()
  private var streamsByID = StreamTable<ClientStream>()
  /// The stream whose header block nghttp2 is delivering field by field.
  private var receivingHeaders: ClientStream?
  private var nextKey = 0
  private let scratchHeaders = ScratchHeaders()
  private var flushScheduled = false
  private var pingOutstanding = false
  private let keepalive: (interval: TimeAmount, timeout: TimeAmount)?
  private var keepaliveTask: RepeatedTask?
  /// Set once the connection cannot take new streams (GOAWAY received or closed).
  private(set) var isDraining = false
  private(set) var isClosed = false
  var onClose: (() -> Void)?

  init(
    authority: String, maxReceiveMessageBytes: Int,
    keepalive: (interval: TimeAmount, timeout: TimeAmount)? = nil
  ) throws {
    self.keepalive = keepalive
    self.authority = authority
    self.maxReceiveMessageBytes = maxReceiveMessageBytes
    self.session = try NGHTTP2Session(role: .client, settings: self.advertisedSettings)
    self.session.delegate = self
  }

  var isUsable: Bool { !self.isDraining && !self.isClosed }

  // MARK: channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    if context.channel.isActive { self.flush() }
  }

  func channelActive(context: ChannelHandlerContext) {
    self.flush()
    self.startKeepalive(context: context)
    context.fireChannelActive()
  }

  /// Pings an idle connection every `interval`; closes it when an ACK takes over `timeout`.
  private func startKeepalive(context: ChannelHandlerContext) {
    guard let keepalive, self.keepaliveTask == nil else { return }
    let loop = context.eventLoop
    let handler = UncheckedSendableBox(self)
    self.keepaliveTask = context.eventLoop.scheduleRepeatedTask(
      initialDelay: keepalive.interval, delay: keepalive.interval
    ) { _ in
      // Runs on the connection's event loop, where the handler lives.
      let `self` = handler.value
      guard self.streamsByID.isEmpty, !self.pingOutstanding, !self.isClosed else { return }
      self.pingOutstanding = true
      self.session.submitPing()
      self.flush()
      loop.assumeIsolated().scheduleTask(in: keepalive.timeout) {
        guard self.pingOutstanding, let context = self.context else { return }
        self.connectionClosed(RPCError(code: .unavailable, message: "Keepalive ping timed out."))
        context.close(promise: nil)
      }
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    self.connectionClosed(RPCError(code: .unavailable, message: "The connection closed."))
    context.fireChannelInactive()
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    self.connectionClosed(RPCError(code: .unavailable, message: "The connection closed."))
    self.context = nil
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = self.unwrapInboundIn(data)
    do {
      try buffer.withUnsafeReadableBytes { try self.session.receive($0) }
    } catch {
      self.isDraining = true
      self.flush()
      context.close(promise: nil)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    self.flush()
    context.fireChannelReadComplete()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    self.connectionClosed(RPCError(code: .unavailable, message: "Connection error: \(error)", cause: error))
    context.close(promise: nil)
  }

  private func connectionClosed(_ error: RPCError) {
    guard !self.isClosed else { return }
    self.isClosed = true
    self.keepaliveTask?.cancel()
    self.keepaliveTask = nil
    self.isDraining = true
    let streams = Array(self.streamsByKey.values)
    self.streamsByKey = StreamTable()
    self.streamsByID = StreamTable()
    for stream in streams { self.complete(stream, error: error) }
    self.onClose?()
  }

  func flush() {
    guard let context, context.channel.isActive else { return }
    var output: ByteBuffer?
    do {
      try self.session.send { bytes in
        if output == nil { output = context.channel.allocator.buffer(capacity: max(bytes.count, 1024)) }
        output!.writeBytes(bytes)
      }
    } catch {
      context.close(promise: nil)
      return
    }
    if let output { context.writeAndFlush(self.wrapOutboundOut(output), promise: nil) }
  }

  private func scheduleFlush() {
    guard !self.flushScheduled, let context else { return }
    self.flushScheduled = true
    context.eventLoop.assumeIsolated().execute {
      self.flushScheduled = false
      self.flush()
    }
  }

  // MARK: operations from calls

  /// Starts a unary call whose outcome goes to `completion` (on the loop, exactly once, possibly
  /// before this returns) instead of to awaiting callers. Returns the call's key for
  /// ``cancel(key:error:)``, or `nil` when the connection takes no new calls.
  func startUnary(
    path: String, metadata: Metadata, options: CallOptions, request: ArraySlice<UInt8>,
    completion: @escaping (Result<UnaryResponse, RPCError>) -> Void
  ) -> Int? {
    guard let key = try? self.makeStream(path: path, metadata: metadata, options: options),
      let stream = self.streamsByKey[key]
    else { return nil }
    stream.unaryCompletion = completion
    stream.outbound.append(unframed: request)
    stream.endOfStreamQueued = true
    self.open(stream)
    return key
  }

  /// The error for an operation on a call this connection no longer knows: the connection
  /// closed under it (`UNAVAILABLE`, retryable) or the call was cancelled.
  private var endedCallError: RPCError {
    self.isClosed
      ? RPCError(code: .unavailable, message: "The connection closed.")
      : RPCError(code: .cancelled, message: "The call has ended.")
  }

  /// Registers a new call; its HEADERS go out with its first message or read.
  func makeStream(path: String, metadata: Metadata, options: CallOptions) throws -> Int {
    guard self.isUsable else {
      throw RPCError(code: .unavailable, message: "The connection is closing.")
    }
    self.nextKey += 1
    let stream = ClientStream(
      key: self.nextKey, path: path, metadata: metadata, options: options,
      maxMessageBytes: self.maxReceiveMessageBytes)
    self.streamsByKey[stream.key] = stream
    if let timeout = options.timeout, let context {
      stream.deadline = .now() + TimeAmount(timeout)
      stream.deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
        self.cancel(key: stream.key, error: RPCError(code: .deadlineExceeded, message: "Deadline exceeded."))
      }
    }
    return stream.key
  }

  private func open(_ stream: ClientStream) {
    guard !stream.opened else { return }
    stream.opened = true
    // Submitted (and copied by nghttp2) at once: the connection's scratch block serves.
    let id = self.scratchHeaders.with { headers in
      headers.add(":method", "POST")
      headers.add(":scheme", "http")
      headers.add(":path", stream.path)
      headers.add(":authority", self.authority)
      headers.add("content-type", "application/grpc")
      headers.add("te", "trailers")
      headers.add("user-agent", "grpc-swift-nghttp2/0.1")
      headers.add("grpc-accept-encoding", "gzip")
      if stream.options.compression == .gzip {
        headers.add("grpc-encoding", "gzip")
      }
      if let timeout = stream.options.timeout {
        headers.add("grpc-timeout", GRPCTimeout.format(timeout))
      }
      headers.add(metadata: stream.requestMetadata)
      return self.session.submitRequest(headers: headers)
    }
    guard id > 0 else {
      self.complete(stream, error: RPCError(code: .unavailable, message: "Could not open a stream (\(id))."))
      return
    }
    stream.id = id
    self.streamsByID[id] = stream
    self.scheduleFlush()
  }

  func enqueue(key: Int, message: OutgoingMessage?, endOfStream: Bool) throws -> Bool {
    guard let stream = self.streamsByKey[key] else { throw self.endedCallError }
    if stream.finished {
      // The server already ended the call; report its status to the writer.
      if let error = stream.finalError { throw error }
      return false
    }
    guard !stream.endOfStreamQueued else {
      throw RPCError(code: .internal, message: "The request stream is already closed.")
    }
    if let message { try message.append(to: &stream.outbound, compress: stream.options.compression == .gzip) }
    if endOfStream { stream.endOfStreamQueued = true }
    if !stream.opened {
      self.open(stream)
    } else if stream.dataDeferred && stream.id > 0 {
      stream.dataDeferred = false
      self.session.resumeData(streamID: stream.id)
    }
    self.scheduleFlush()
    return StreamWriteGate.mustWait(pendingBytes: stream.outbound.pendingBytes)
  }

  func waitForWritable(key: Int, continuation: CheckedContinuation<Void, any Error>) {
    guard let stream = self.streamsByKey[key], !stream.finished else {
      continuation.resume(throwing: self.endedCallError)
      return
    }
    stream.writeGate.wait(pendingBytes: stream.outbound.pendingBytes, continuation: continuation)
  }

  func waitForMetadata(key: Int, continuation: CheckedContinuation<Metadata, any Error>) {
    guard let stream = self.streamsByKey[key] else {
      continuation.resume(throwing: self.endedCallError)
      return
    }
    if !stream.opened { self.open(stream) }
    if let metadata = stream.initialMetadata {
      continuation.resume(returning: metadata)
    } else if stream.finished {
      continuation.resume(throwing: stream.finalError ?? RPCError(code: .internal, message: "No response headers."))
    } else {
      stream.metadataWaiters.append(continuation)
    }
  }

  func waitForMessage(key: Int, continuation: CheckedContinuation<ArraySlice<UInt8>?, any Error>) {
    guard let stream = self.streamsByKey[key] else {
      continuation.resume(throwing: self.endedCallError)
      return
    }
    if !stream.opened { self.open(stream) }
    if let message = stream.popMessage() {
      if stream.inbound.isEmpty && stream.unconsumedBytes > 0 && stream.id > 0 {
        self.session.consumeStream(stream.id, stream.unconsumedBytes)
        stream.unconsumedBytes = 0
        self.scheduleFlush()
      }
      continuation.resume(returning: message)
    } else if stream.finished {
      if let error = stream.finalError {
        continuation.resume(throwing: error)
      } else {
        continuation.resume(returning: nil)
      }
    } else if stream.messageWaiter != nil {
      continuation.resume(throwing: RPCError(code: .internal, message: "Concurrent reads of one response stream."))
    } else {
      stream.messageWaiter = continuation
    }
  }

  func waitForTrailers(key: Int, continuation: CheckedContinuation<Metadata, Never>) {
    guard let stream = self.streamsByKey[key] else {
      continuation.resume(returning: [:])
      return
    }
    if stream.finished {
      continuation.resume(returning: stream.trailingMetadata ?? [:])
    } else {
      stream.trailerWaiters.append(continuation)
    }
  }

  /// Ends the call locally: RST_STREAM(CANCEL) if still open, then fails every waiter with
  /// `error`.
  func cancel(key: Int, error: RPCError) {
    guard let stream = self.streamsByKey[key] else { return }
    if !stream.finished && stream.id > 0 {
      self.session.submitReset(streamID: stream.id, errorCode: NGHTTP2_CANCEL.rawValue)
      self.scheduleFlush()
    }
    self.complete(stream, error: error)
  }

  /// Forgets a call whose caller is done with it, cancelling it if it is still running.
  func release(key: Int) {
    guard let stream = self.streamsByKey[key] else { return }
    if !stream.finished {
      self.cancel(key: key, error: RPCError(code: .cancelled, message: "The call was cancelled."))
    }
    self.streamsByKey[key] = nil
    if stream.id > 0 { self.streamsByID[stream.id] = nil }
  }

  private func complete(_ stream: ClientStream, error: RPCError?) {
    guard !stream.finished else { return }
    stream.finished = true
    stream.finalError = error
    stream.deadlineTask?.cancel()
    stream.deadlineTask = nil
    if stream.trailingMetadata == nil { stream.trailingMetadata = error?.metadata ?? [:] }
    let metadataWaiters = stream.metadataWaiters
    stream.metadataWaiters = []
    for waiter in metadataWaiters {
      if let metadata = stream.initialMetadata {
        waiter.resume(returning: metadata)
      } else {
        waiter.resume(throwing: error ?? RPCError(code: .internal, message: "No response headers."))
      }
    }
    if let waiter = stream.messageWaiter {
      stream.messageWaiter = nil
      if let message = stream.popMessage() {
        waiter.resume(returning: message)
      } else if let error {
        waiter.resume(throwing: error)
      } else {
        waiter.resume(returning: nil)
      }
    }
    stream.writeGate.fail(error ?? RPCError(code: .cancelled, message: "The call has ended."))
    let trailerWaiters = stream.trailerWaiters
    stream.trailerWaiters = []
    for waiter in trailerWaiters { waiter.resume(returning: stream.trailingMetadata ?? [:]) }
    if let completion = stream.unaryCompletion {
      stream.unaryCompletion = nil
      // Nobody releases a callback call: it is forgotten here (its stream id goes when
      // nghttp2 closes the stream).
      self.streamsByKey[stream.key] = nil
      completion(Self.unaryOutcome(stream, error: error))
    }
  }

  private static func unaryOutcome(_ stream: ClientStream, error: RPCError?) -> Result<UnaryResponse, RPCError> {
    if let error { return .failure(error) }
    // A response cardinality violation is UNIMPLEMENTED (statuscodes.md), as RPCClient answers it.
    guard let message = stream.popMessage() else {
      return .failure(RPCError(code: .unimplemented, message: "The server ended a unary call without a response message."))
    }
    guard stream.popMessage() == nil else {
      return .failure(RPCError(code: .unimplemented, message: "The server sent more than one response to a unary call."))
    }
    return .success(
      UnaryResponse(headers: stream.initialMetadata ?? [:], message: message, trailers: stream.trailingMetadata ?? [:]))
  }

  // MARK: nghttp2 events

  func sessionDidBeginHeaders(streamID: Int32) {
    guard let stream = self.streamsByID[streamID] else { return }
    stream.collecting = Metadata()
    self.receivingHeaders = stream
  }

  func sessionDidReceiveHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    // A header block's fields all belong to the stream it began (no dictionary lookup per field).
    let receiving = self.receivingHeaders
    guard let stream = receiving?.id == streamID ? receiving : self.streamsByID[streamID] else { return }
    stream.headerListBytes += name.count + value.count + 32
    guard stream.headerListBytes <= Int(self.advertisedSettings.maxHeaderListSize) else {
      stream.collecting = Metadata()
      return
    }
    // Known names are matched on bytes; the common values are not turned into new Strings.
    switch ResponseHeaderName(name) {
    case .status: stream.httpStatus = ServerConnectionHandler.commonValue(value, "200")
    case .contentType: stream.contentType = ServerConnectionHandler.commonValue(value, "application/grpc")
    case .grpcStatus: stream.grpcStatus = ServerConnectionHandler.commonValue(value, "0")
    case .grpcMessage: stream.grpcMessage = StatusMessageCoding.decode(String(decoding: value, as: UTF8.self))
    case .grpcEncoding: stream.grpcEncoding = String(decoding: value, as: UTF8.self)
    case .reserved: return
    case .custom:
      stream.collecting.addReceivedHeader(
        name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }
  }

  func sessionDidReceiveHeaders(streamID: Int32, endStream: Bool) {
    self.receivingHeaders = nil
    guard let stream = self.streamsByID[streamID], !stream.finished else { return }
    defer { stream.headerListBytes = 0 }
    if stream.headerListBytes > Int(self.advertisedSettings.maxHeaderListSize) {
      self.session.submitReset(streamID: streamID, errorCode: NGHTTP2_CANCEL.rawValue)
      self.complete(
        stream,
        error: RPCError(
          code: .resourceExhausted,
          message: "The response's header list is larger than \(self.advertisedSettings.maxHeaderListSize) bytes."))
      return
    }
    if !stream.responseHeadersDone {
      if let status = stream.httpStatus, status.utf8.count == 3, status.utf8.first == UInt8(ascii: "1") {
        // An informational (1xx) response: skipped whole, the real response follows.
        stream.httpStatus = nil
        stream.contentType = nil
        stream.grpcStatus = nil
        stream.grpcMessage = nil
        stream.grpcEncoding = nil
        stream.collecting = Metadata()
        return
      }
      stream.responseHeadersDone = true
      if stream.grpcStatus != nil {
        // Trailers-only. A grpc-status, when there is one, decides the outcome whatever the
        // HTTP status (http-grpc-status-mapping.md: "If grpc-status was provided, it must be
        // used").
        stream.trailingMetadata = stream.collecting
        self.finishWithStatus(stream)
        return
      }
      guard stream.httpStatus == "200" else {
        let error = Self.errorForHTTPStatus(stream.httpStatus)
        self.session.submitReset(streamID: streamID, errorCode: NGHTTP2_CANCEL.rawValue)
        self.complete(stream, error: error)
        return
      }
      guard let contentType = stream.contentType, ServerConnectionHandler.isGRPCContentType(contentType) else {
        self.session.submitReset(streamID: streamID, errorCode: NGHTTP2_CANCEL.rawValue)
        self.complete(stream, error: RPCError(code: .unknown, message: "Invalid content-type: \(stream.contentType ?? "none")."))
        return
      }
      if endStream {
        // Trailers-only without a grpc-status: an error below.
        stream.trailingMetadata = stream.collecting
        self.finishWithStatus(stream)
        return
      }
      if let encoding = stream.grpcEncoding, encoding != "identity", encoding != "gzip" {
        self.session.submitReset(streamID: streamID, errorCode: NGHTTP2_CANCEL.rawValue)
        self.complete(stream, error: RPCError(code: .internal, message: "Unsupported response encoding '\(encoding)'."))
        return
      }
      let metadata = stream.collecting
      stream.initialMetadata = metadata
      let waiters = stream.metadataWaiters
      stream.metadataWaiters = []
      for waiter in waiters { waiter.resume(returning: metadata) }
    } else {
      stream.trailingMetadata = stream.collecting
      self.finishWithStatus(stream)
    }
  }

  private func finishWithStatus(_ stream: ClientStream) {
    if stream.initialMetadata == nil && stream.grpcStatus == "0" {
      stream.initialMetadata = [:]
    }
    guard let statusText = stream.grpcStatus, let code = Int(statusText) else {
      self.complete(stream, error: RPCError(code: .unknown, message: "The response ended without a grpc-status."))
      return
    }
    if stream.deframer.bufferedByteCount > 0 {
      self.complete(stream, error: RPCError(code: .internal, message: "The response ended in the middle of a message."))
      return
    }
    if code == 0 {
      self.complete(stream, error: nil)
    } else {
      let rpcCode = RPCError.Code(rawValue: code) ?? .unknown
      self.complete(
        stream,
        error: RPCError(code: rpcCode, message: stream.grpcMessage ?? "", metadata: stream.trailingMetadata ?? [:]))
    }
  }

  static func errorForHTTPStatus(_ status: String?) -> RPCError {
    let code: RPCError.Code =
      switch status {
      case "400": .internal
      case "401": .unauthenticated
      case "403": .permissionDenied
      case "404": .unimplemented
      case "429", "502", "503", "504": .unavailable
      default: .unknown
      }
    return RPCError(code: code, message: "Unexpected HTTP status \(status ?? "none").")
  }

  func sessionDidReceiveData(streamID: Int32, bytes: UnsafeRawBufferPointer) {
    self.session.consumeConnection(bytes.count)
    guard let stream = self.streamsByID[streamID], !stream.finished else {
      self.session.consumeStream(streamID, bytes.count)
      return
    }
    if !stream.inbound.isEmpty {
      stream.unconsumedBytes += bytes.count
    } else {
      self.session.consumeStream(streamID, bytes.count)
    }
    stream.deframer.append(bytes)
    while !stream.finished {
      let message: GRPCMessageDeframer.Message?
      do {
        message = try stream.deframer.next()
      } catch .messageTooLarge(let length, let limit) {
        self.cancel(key: stream.key, error: RPCError(code: .resourceExhausted, message: "Received message larger than max (\(length) vs. \(limit))."))
        return
      } catch {
        self.cancel(key: stream.key, error: RPCError(code: .internal, message: "Invalid gRPC message prefix."))
        return
      }
      guard let message else { return }
      var bytes = message.bytes
      if message.compressed {
        guard stream.grpcEncoding == "gzip" else {
          self.cancel(key: stream.key, error: RPCError(code: .internal, message: "Compressed message without grpc-encoding."))
          return
        }
        do {
          bytes = ArraySlice(try Gzip.decompress(bytes, limit: stream.deframer.maxMessageBytes))
        } catch {
          self.cancel(key: stream.key, error: RPCError(mapping: error))
          return
        }
      }
      if let waiter = stream.messageWaiter {
        stream.messageWaiter = nil
        waiter.resume(returning: bytes)
      } else {
        stream.inbound.append(bytes)
      }
    }
  }

  func sessionDidReceiveEndOfStream(streamID: Int32) {
    guard let stream = self.streamsByID[streamID], !stream.finished else { return }
    // DATA with END_STREAM and no trailers: the server never sent a status.
    self.complete(stream, error: RPCError(code: .internal, message: "The response ended without trailers."))
  }

  func sessionDidCloseStream(streamID: Int32, errorCode: UInt32) {
    guard let stream = self.streamsByID.removeValue(forKey: streamID) else { return }
    guard !stream.finished else { return }
    let error: RPCError =
      switch errorCode {
      case NGHTTP2_REFUSED_STREAM.rawValue:
        RPCError(code: .unavailable, message: "The server refused the stream.")
      case NGHTTP2_CANCEL.rawValue:
        // PROTOCOL-HTTP2: a server cancels a call whose deadline passed with CANCEL; the
        // client reports that as DEADLINE_EXCEEDED when its own deadline has passed too.
        if let deadline = stream.deadline, deadline <= .now() {
          RPCError(code: .deadlineExceeded, message: "Deadline exceeded (the server cancelled the call).")
        } else {
          RPCError(code: .cancelled, message: "The server cancelled the call.")
        }
      case NGHTTP2_INADEQUATE_SECURITY.rawValue:
        RPCError(code: .permissionDenied, message: "The server refused the connection's security (INADEQUATE_SECURITY).")
      case NGHTTP2_NO_ERROR.rawValue:
        RPCError(code: .internal, message: "The stream closed without a status.")
      case NGHTTP2_ENHANCE_YOUR_CALM.rawValue:
        RPCError(code: .resourceExhausted, message: "The server asked to slow down.")
      default:
        RPCError(code: .internal, message: "The stream was reset (HTTP/2 error \(errorCode)).")
      }
    self.complete(stream, error: error)
  }

  func sessionDidSendEndOfStream(streamID: Int32) {}

  func sessionDidReceivePingAck() {
    self.pingOutstanding = false
  }

  func sessionDidReceiveGoAway(lastStreamID: Int32, errorCode: UInt32) {
    self.isDraining = true
    self.onClose?()
  }

  func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> NGHTTP2DataRead {
    guard let stream = self.streamsByID[streamID] else {
      return .bytes(count: 0, endOfData: true, sendTrailers: false)
    }
    let count = stream.outbound.read(into: buffer)
    if count > 0 { stream.writeGate.drained(pendingBytes: stream.outbound.pendingBytes) }
    if stream.outbound.isEmpty && stream.endOfStreamQueued {
      stream.endOfStreamSent = true
      return .bytes(count: count, endOfData: true, sendTrailers: false)
    }
    if count == 0 {
      stream.dataDeferred = true
      return .deferred
    }
    return .bytes(count: count, endOfData: false, sendTrailers: false)
  }
}

/// Response header names the client treats specially, matched on their bytes.
enum ResponseHeaderName {
  case status, contentType, grpcStatus, grpcMessage, grpcEncoding
  /// Other pseudo-headers and `grpc-` headers: never delivered as metadata (but the ones
  /// `Metadata.isCarriedGRPCKey` names are).
  case reserved
  case custom

  init(_ name: UnsafeRawBufferPointer) {
    func equals(_ literal: StaticString) -> Bool {
      literal.utf8CodeUnitCount == name.count && memcmp(literal.utf8Start, name.baseAddress!, name.count) == 0
    }
    guard let first = name.first else {
      self = .custom
      return
    }
    if first == UInt8(ascii: ":") {
      self = equals(":status") ? .status : .reserved
    } else if equals("content-type") {
      self = .contentType
    } else if name.count >= 5 && first == UInt8(ascii: "g") && equals5(name, "grpc-") {
      if equals("grpc-status") { self = .grpcStatus }
      else if equals("grpc-message") { self = .grpcMessage }
      else if equals("grpc-encoding") { self = .grpcEncoding }
      else if equals("grpc-retry-pushback-ms") || equals("grpc-status-details-bin") { self = .custom }
      else { self = .reserved }
    } else {
      self = .custom
    }
  }
}
