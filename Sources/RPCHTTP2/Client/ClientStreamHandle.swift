internal import NIOCore
internal import RPCCore

/// A caller's view of one client stream, forwarding to the connection on its event loop.
struct ClientStreamHandle: ClientCallStream {
  let connection: UncheckedSendableBox<ClientConnectionHandler>
  let key: Int
  let eventLoop: any EventLoop
  let compressesRequests: Bool

  private func onLoop(_ body: @escaping @Sendable () -> Void) {
    if self.eventLoop.inEventLoop { body() } else { self.eventLoop.execute(body) }
  }

  func send<Message: RPCMessage>(_ message: Message, endOfStream: Bool) async throws {
    let outgoing = try OutgoingMessage.encoding(message, wantsCompression: self.compressesRequests)
    try await self.enqueue(outgoing, endOfStream: endOfStream)
  }

  func finishSending() async throws {
    try await self.enqueue(nil, endOfStream: true)
  }

  private func enqueue(_ message: OutgoingMessage?, endOfStream: Bool) async throws {
    let connection = self.connection
    let key = self.key
    let mustWait: Bool
    if self.eventLoop.inEventLoop {
      mustWait = try connection.value.enqueue(key: key, message: message, endOfStream: endOfStream)
    } else {
      mustWait = try await self.eventLoop.submit {
        try connection.value.enqueue(key: key, message: message, endOfStream: endOfStream)
      }.get()
    }
    guard mustWait else { return }
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
      self.onLoop { connection.value.waitForWritable(key: key, continuation: continuation) }
    }
  }

  func receiveMetadata() async throws -> Metadata {
    let connection = self.connection
    let key = self.key
    return try await withCheckedThrowingContinuation { continuation in
      self.onLoop { connection.value.waitForMetadata(key: key, continuation: continuation) }
    }
  }

  func receive<Message: RPCMessage>(_ type: Message.Type) async throws -> Message? {
    let connection = self.connection
    let key = self.key
    let bytes = try await withCheckedThrowingContinuation {
      (continuation: CheckedContinuation<ArraySlice<UInt8>?, any Error>) in
      self.onLoop { connection.value.waitForMessage(key: key, continuation: continuation) }
    }
    guard let bytes else { return nil }
    do {
      return try bytes.withUnsafeBytes { try Message(serializedBytes: $0) }
    } catch let error as RPCError {
      throw error
    } catch {
      throw RPCError(code: .internal, message: "Failed to decode the response message.", cause: error)
    }
  }

  func trailingMetadata() async -> Metadata {
    let connection = self.connection
    let key = self.key
    return await withCheckedContinuation { continuation in
      self.onLoop { connection.value.waitForTrailers(key: key, continuation: continuation) }
    }
  }
}
