internal import NIOCore
internal import RPCCore

/// The handler's view of one server stream: a ``ServerCallStream`` that forwards to the
/// connection on its event loop, directly when already there and with a hop otherwise.
struct ServerStreamHandle: ServerCallStream {
  let connection: UncheckedSendableBox<ServerConnectionHandler>
  let streamID: Int32
  let eventLoop: any EventLoop
  let compression: ServerMessageCompression
  let acceptsGzip: Bool

  func receive<Message: RPCMessage>(_ type: Message.Type) async throws -> Message? {
    if self.eventLoop.inEventLoop {
      switch try self.connection.value.takeMessage(streamID: self.streamID) {
      case .message(let bytes, let compressed):
        self.compression.recordRequest(compressed: compressed)
        return try Self.decode(Message.self, bytes)
      case .end: return nil
      case .wait: break
      }
    }
    let connection = self.connection
    let streamID = self.streamID
    let eventLoop = self.eventLoop
    let received = try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        if eventLoop.inEventLoop {
          connection.value.waitForMessage(streamID: streamID, continuation: continuation)
        } else {
          eventLoop.execute {
            connection.value.waitForMessage(streamID: streamID, continuation: continuation)
          }
        }
      }
    } onCancel: {
      eventLoop.execute { connection.value.cancelWaiters(streamID: streamID) }
    }
    guard let received else { return nil }
    self.compression.recordRequest(compressed: received.compressed)
    return try Self.decode(Message.self, received.bytes)
  }

  private static func decode<Message: RPCMessage>(
    _ type: Message.Type, _ bytes: ArraySlice<UInt8>
  ) throws -> Message {
    do {
      return try bytes.withUnsafeBytes { try Message(serializedBytes: $0) }
    } catch let error as RPCError {
      throw error
    } catch {
      throw RPCError(code: .internal, message: "Failed to decode the request message.", cause: error)
    }
  }

  func sendMetadata(_ metadata: Metadata) async throws {
    let connection = self.connection
    let streamID = self.streamID
    if self.eventLoop.inEventLoop {
      connection.value.sendMetadata(streamID: streamID, metadata: metadata)
    } else {
      self.eventLoop.execute { connection.value.sendMetadata(streamID: streamID, metadata: metadata) }
    }
  }

  func send<Message: RPCMessage>(_ message: Message) async throws {
    let outgoing = try OutgoingMessage.encoding(
      message, wantsCompression: self.acceptsGzip && self.compression.compressesResponses)
    let connection = self.connection
    let streamID = self.streamID
    let eventLoop = self.eventLoop
    if eventLoop.inEventLoop {
      guard try connection.value.enqueue(streamID: streamID, message: outgoing) else { return }
    } else {
      let mustWait = try await eventLoop.submit {
        try connection.value.enqueue(streamID: streamID, message: outgoing)
      }.get()
      guard mustWait else { return }
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        if eventLoop.inEventLoop {
          connection.value.waitForWritable(streamID: streamID, continuation: continuation)
        } else {
          eventLoop.execute {
            connection.value.waitForWritable(streamID: streamID, continuation: continuation)
          }
        }
      }
    } onCancel: {
      eventLoop.execute { connection.value.cancelWaiters(streamID: streamID) }
    }
  }

  func finish(status: Status, trailers: Metadata) {
    let connection = self.connection
    let streamID = self.streamID
    if self.eventLoop.inEventLoop {
      connection.value.finish(streamID: streamID, status: status, trailers: trailers)
    } else {
      self.eventLoop.execute {
        connection.value.finish(streamID: streamID, status: status, trailers: trailers)
      }
    }
  }
}
