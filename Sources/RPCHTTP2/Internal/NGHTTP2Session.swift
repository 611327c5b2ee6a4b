internal import CNGHTTP2

/// Receives the events of an ``NGHTTP2Session``.
///
/// Methods are called from inside `nghttp2_session_mem_recv` / `mem_send` and must not call
/// back into the session's receive or send functions; submitting frames is allowed.
protocol NGHTTP2SessionDelegate: AnyObject {
  func sessionDidBeginHeaders(streamID: Int32)
  func sessionDidReceiveHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
  /// A HEADERS block is complete. `endStream` is set when the peer half-closed with it.
  func sessionDidReceiveHeaders(streamID: Int32, endStream: Bool)
  func sessionDidReceiveData(streamID: Int32, bytes: UnsafeRawBufferPointer)
  /// A DATA frame with END_STREAM arrived.
  func sessionDidReceiveEndOfStream(streamID: Int32)
  func sessionDidCloseStream(streamID: Int32, errorCode: UInt32)
  func sessionDidReceiveGoAway(lastStreamID: Int32, errorCode: UInt32)
  /// The peer acknowledged our PING.
  func sessionDidReceivePingAck()
  /// A HEADERS or DATA frame carrying END_STREAM left for `streamID`.
  func sessionDidSendEndOfStream(streamID: Int32)
  /// Copies up to `buffer.count` outbound DATA bytes for `streamID`.
  func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> NGHTTP2DataRead
}

/// The answer to a data-provider read.
enum NGHTTP2DataRead {
  /// `count` bytes were copied; `endOfData` ends the DATA frames (END_STREAM unless trailers
  /// follow, see `trailers`).
  case bytes(count: Int, endOfData: Bool, sendTrailers: Bool)
  /// Nothing to send now; call ``NGHTTP2Session/resumeData(streamID:)`` when there is.
  case deferred
}

/// An HTTP/2 error reported by nghttp2.
struct HTTP2Error: Error, CustomStringConvertible {
  let code: Int32
  let context: String
  var description: String { "\(self.context): \(String(cString: nghttp2_strerror(self.code)))" }
}

/// Settings applied to a session.
struct NGHTTP2Settings {
  var maxConcurrentStreams: UInt32 = 1024
  var initialWindowSize: UInt32 = 1 << 20
  var connectionWindowSize: Int32 = 8 << 20
  var maxHeaderListSize: UInt32 = 16 << 10
  var maxFrameSize: UInt32 = 16 << 10
}

/// An nghttp2 session (server or client) driven by bytes in and out.
///
/// Ownership: this class owns the `nghttp2_session` (created in `init`, deleted in `deinit`)
/// and passes itself unretained as the session's user data, which is safe because the session
/// cannot outlive it. Not thread-safe: confine to one event loop.
final class NGHTTP2Session {
  private let session: OpaquePointer
  unowned(unsafe) var delegate: (any NGHTTP2SessionDelegate)?

  enum Role { case server, client }

  /// Whether the peer's first SETTINGS frame has arrived: the end of its connection preface.
  private(set) var receivedPeerSettings = false

  init(role: Role, settings: NGHTTP2Settings) throws {
    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    guard let callbacks else { throw HTTP2Error(code: NGHTTP2_ERR_NOMEM.rawValue, context: "callbacks") }
    defer { nghttp2_session_callbacks_del(callbacks) }
    Self.install(callbacks)

    var option: OpaquePointer?
    nghttp2_option_new(&option)
    guard let option else { throw HTTP2Error(code: NGHTTP2_ERR_NOMEM.rawValue, context: "options") }
    defer { nghttp2_option_del(option) }
    nghttp2_option_set_max_send_header_block_length(option, 64 << 10)
    nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096)
    nghttp2_option_set_max_settings(option, 32)
    nghttp2_option_set_max_continuations(option, 8)
    // Stream windows open only as handlers (or callers) take messages: real back-pressure.
    nghttp2_option_set_no_auto_window_update(option, 1)
    if role == .client {
      // nghttp2 keeps up to SETTINGS_MAX_CONCURRENT_STREAMS closed streams (for RFC 7540's
      // priority tree); on a client's long-lived connection that is a thousand stale entries
      // every frame's stream lookup wades through (~5 % of the gateway's CPU per call). A client
      // lets them go: frames a server still sends on a closed stream are dropped instead of
      // ending the connection. A server keeps them: RFC 9113 6.1 wants DATA on a closed stream
      // answered with STREAM_CLOSED, which nghttp2 can only tell with the stream kept.
      nghttp2_option_set_no_closed_streams(option, 1)
    }
    if role == .server {
      // Rapid-reset protection: at most 1000 resets as a burst, refilling 33 per second.
      nghttp2_option_set_stream_reset_rate_limit(option, 1000, 33)
    }

    var session: OpaquePointer?
    let rc: Int32
    switch role {
    case .server: rc = nghttp2_session_server_new2(&session, callbacks, nil, option)
    case .client: rc = nghttp2_session_client_new2(&session, callbacks, nil, option)
    }
    guard rc == 0, let session else { throw HTTP2Error(code: rc, context: "session") }
    self.session = session
    nghttp2_session_set_user_data(session, Unmanaged.passUnretained(self).toOpaque())

    var entries = [
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
      nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
    ]
    if role == .client {
      entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
    }
    let settingsRC = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
    guard settingsRC == 0 else { throw HTTP2Error(code: settingsRC, context: "settings") }
    nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)
  }

  deinit {
    nghttp2_session_del(self.session)
  }

  fileprivate static func from(_ userData: UnsafeMutableRawPointer?) -> NGHTTP2Session {
    guard let userData else { preconditionFailure("nghttp2 callback without session user data") }
    return Unmanaged<NGHTTP2Session>.fromOpaque(userData).takeUnretainedValue()
  }

  // MARK: driving

  /// Feeds received bytes. Throws when the peer violated the protocol fatally; the session has
  /// then queued a GOAWAY to send before closing.
  func receive(_ bytes: UnsafeRawBufferPointer) throws {
    guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
    let rc = nghttp2_session_mem_recv(self.session, base, bytes.count)
    if rc < 0 { throw HTTP2Error(code: Int32(rc), context: "receive") }
  }

  /// Appends every frame nghttp2 wants to send to `output`.
  func send(into output: (UnsafeRawBufferPointer) -> Void) throws {
    while true {
      var data: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(self.session, &data)
      if count < 0 { throw HTTP2Error(code: Int32(count), context: "send") }
      guard count > 0, let data else { return }
      output(UnsafeRawBufferPointer(start: data, count: count))
    }
  }

  /// Whether the session still wants to read or write; when neither, the connection is done.
  var isActive: Bool {
    nghttp2_session_want_read(self.session) != 0 || nghttp2_session_want_write(self.session) != 0
  }

  var wantsWrite: Bool { nghttp2_session_want_write(self.session) != 0 }

  // MARK: submitting

  /// Submits response headers; with `hasBody` DATA follows from the delegate's data reads,
  /// otherwise the HEADERS frame ends the stream (a trailers-only response).
  func submitResponse(streamID: Int32, headers: HeaderBlock, hasBody: Bool) -> Int32 {
    headers.withNameValues { nva, count in
      if hasBody {
        var provider = Self.dataProvider
        return nghttp2_submit_response(self.session, streamID, nva, count, &provider)
      }
      return nghttp2_submit_response(self.session, streamID, nva, count, nil)
    }
  }

  /// Submits a request; DATA comes from the delegate's data reads. Returns the stream id or a
  /// negative nghttp2 error.
  func submitRequest(headers: HeaderBlock) -> Int32 {
    headers.withNameValues { nva, count in
      var provider = Self.dataProvider
      return nghttp2_submit_request(self.session, nil, nva, count, &provider, nil)
    }
  }

  /// Submits trailers (HEADERS with END_STREAM).
  @discardableResult
  func submitTrailers(streamID: Int32, headers: HeaderBlock) -> Int32 {
    headers.withNameValues { nva, count in
      nghttp2_submit_trailer(self.session, streamID, nva, count)
    }
  }

  @discardableResult
  func submitReset(streamID: Int32, errorCode: UInt32) -> Int32 {
    nghttp2_submit_rst_stream(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
  }

  /// Returns `count` received bytes to the connection-level flow-control window.
  func consumeConnection(_ count: Int) {
    guard count > 0 else { return }
    nghttp2_session_consume_connection(self.session, count)
  }

  /// Returns `count` received bytes to `streamID`'s flow-control window.
  func consumeStream(_ streamID: Int32, _ count: Int) {
    guard count > 0 else { return }
    nghttp2_session_consume_stream(self.session, streamID, count)
  }

  /// Sends a PING; its ACK arrives as ``NGHTTP2SessionDelegate/sessionDidReceivePingAck()``.
  func submitPing() {
    nghttp2_submit_ping(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
  }

  /// Tells nghttp2 that a deferred stream has data again.
  func resumeData(streamID: Int32) {
    nghttp2_session_resume_data(self.session, streamID)
  }

  /// Sends GOAWAY with the last processed stream id and stops accepting streams.
  func terminate(errorCode: UInt32) {
    nghttp2_session_terminate_session(self.session, errorCode)
  }

  /// Sends a GOAWAY announcing shutdown while letting open streams finish.
  func submitShutdownNotice() {
    nghttp2_submit_shutdown_notice(self.session)
  }

  /// Sends the final GOAWAY naming the last stream the server processed.
  func submitGoAway(errorCode: UInt32) {
    let last = nghttp2_session_get_last_proc_stream_id(self.session)
    nghttp2_submit_goaway(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
  }

  // MARK: callbacks

  private static var dataProvider: nghttp2_data_provider {
    nghttp2_data_provider(
      source: nghttp2_data_source(ptr: nil),
      read_callback: { session, streamID, buffer, length, flags, _, userData in
        let owner = NGHTTP2Session.from(userData)
        guard let delegate = owner.delegate, let buffer, let flags else {
          return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        switch delegate.sessionReadData(
          streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buffer, count: length))
        {
        case .deferred:
          return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        case .bytes(let count, let endOfData, let sendTrailers):
          if endOfData {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if sendTrailers { flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue }
          }
          return count
        }
      }
    )
  }

  private static func install(_ callbacks: OpaquePointer) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
      guard let frame else { return 0 }
      let owner = NGHTTP2Session.from(userData)
      if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) {
        owner.delegate?.sessionDidBeginHeaders(streamID: frame.pointee.hd.stream_id)
      }
      return 0
    }
    nghttp2_session_callbacks_set_on_header_callback(callbacks) {
      _, frame, name, nameLength, value, valueLength, _, userData in
      guard let frame else { return 0 }
      let owner = NGHTTP2Session.from(userData)
      owner.delegate?.sessionDidReceiveHeader(
        streamID: frame.pointee.hd.stream_id,
        name: UnsafeRawBufferPointer(start: name, count: nameLength),
        value: UnsafeRawBufferPointer(start: value, count: valueLength))
      return 0
    }
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
      guard let frame else { return 0 }
      let owner = NGHTTP2Session.from(userData)
      let header = frame.pointee.hd
      let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
      switch header.type {
      case UInt8(NGHTTP2_HEADERS.rawValue):
        owner.delegate?.sessionDidReceiveHeaders(streamID: header.stream_id, endStream: endStream)
      case UInt8(NGHTTP2_DATA.rawValue):
        if endStream { owner.delegate?.sessionDidReceiveEndOfStream(streamID: header.stream_id) }
      case UInt8(NGHTTP2_PING.rawValue):
        if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 {
          owner.delegate?.sessionDidReceivePingAck()
        }
      case UInt8(NGHTTP2_SETTINGS.rawValue):
        if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { owner.receivedPeerSettings = true }
      case UInt8(NGHTTP2_GOAWAY.rawValue):
        owner.delegate?.sessionDidReceiveGoAway(
          lastStreamID: frame.pointee.goaway.last_stream_id,
          errorCode: frame.pointee.goaway.error_code)
      default:
        break
      }
      return 0
    }
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) {
      _, _, streamID, data, length, userData in
      let owner = NGHTTP2Session.from(userData)
      owner.delegate?.sessionDidReceiveData(
        streamID: streamID, bytes: UnsafeRawBufferPointer(start: data, count: length))
      return 0
    }
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
      guard let frame else { return 0 }
      let header = frame.pointee.hd
      let isStreamFrame = header.type == UInt8(NGHTTP2_HEADERS.rawValue) || header.type == UInt8(NGHTTP2_DATA.rawValue)
      if isStreamFrame && header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
        NGHTTP2Session.from(userData).delegate?.sessionDidSendEndOfStream(streamID: header.stream_id)
      }
      return 0
    }
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) {
      _, streamID, errorCode, userData in
      let owner = NGHTTP2Session.from(userData)
      owner.delegate?.sessionDidCloseStream(streamID: streamID, errorCode: errorCode)
      return 0
    }
  }
}

/// A connection's reusable header block, for the header lists nghttp2 copies during a submit
/// call: no block is allocated per call. Re-entrant: a use nested inside another (a completion
/// that opens another stream) gets a fresh block.
final class ScratchHeaders {
  private var block = HeaderBlock(capacity: 16)

  /// Runs `body` with the block, emptied.
  func with<Result>(_ body: (inout HeaderBlock) -> Result) -> Result {
    var block = self.block
    self.block = HeaderBlock(capacity: 0)
    defer { self.block = block }
    block.removeAll()
    return body(&block)
  }
}

/// A list of header fields, stored in one contiguous byte buffer and turned into an
/// `nghttp2_nv` array only for the duration of a submit call (nghttp2 copies the bytes).
struct HeaderBlock {
  private var bytes: [UInt8] = []
  private var fields: [(nameStart: Int, nameLength: Int, valueStart: Int, valueLength: Int, flags: UInt8)] = []

  init(capacity: Int = 8) {
    self.bytes.reserveCapacity(capacity * 32)
    self.fields.reserveCapacity(capacity)
  }

  /// Adds a field. `indexed: false` keeps it out of the HPACK dynamic table: for values that
  /// never repeat (request and trace ids), where indexing only evicts useful entries.
  mutating func add(_ name: String, _ value: String, indexed: Bool = true) {
    let nameStart = self.bytes.count
    Self.append(name, to: &self.bytes)
    let valueStart = self.bytes.count
    Self.append(value, to: &self.bytes)
    let flags = UInt8(indexed ? NGHTTP2_NV_FLAG_NONE.rawValue : NGHTTP2_NV_FLAG_NO_INDEX.rawValue)
    self.fields.append((nameStart, valueStart - nameStart, valueStart, self.bytes.count - valueStart, flags))
  }

  var isEmpty: Bool { self.fields.isEmpty }

  /// Appends the UTF-8 of `text` (copied from its contiguous storage when it has one).
  private static func append(_ text: String, to bytes: inout [UInt8]) {
    var text = text
    text.withUTF8 { bytes.append(contentsOf: $0) }
  }

  /// Empties the block, keeping its storage for the next one.
  mutating func removeAll() {
    self.bytes.removeAll(keepingCapacity: true)
    self.fields.removeAll(keepingCapacity: true)
  }

  fileprivate func withNameValues<R>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
    self.bytes.withUnsafeBufferPointer { raw in
      // nghttp2 copies names and values during the submit call and never writes through
      // these pointers; the mutable type is only what its C signature asks for.
      let base = UnsafeMutablePointer(mutating: raw.baseAddress ?? UnsafePointer(bitPattern: 1)!)
      return withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(self.fields.count, 1)) { nva in
        for (index, field) in self.fields.enumerated() {
          nva.initializeElement(
            at: index,
            to: nghttp2_nv(
              name: base + field.nameStart, value: base + field.valueStart,
              namelen: field.nameLength, valuelen: field.valueLength,
              flags: field.flags))
        }
        return body(UnsafePointer(nva.baseAddress!), self.fields.count)
      }
    }
  }
}
