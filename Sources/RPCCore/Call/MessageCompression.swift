internal import Synchronization

/// A message compression algorithm named in `grpc-encoding`.
public struct CompressionAlgorithm: Sendable, Hashable, CustomStringConvertible {
  /// The `grpc-encoding` token.
  public let name: String

  private init(_ name: String) { self.name = name }

  /// No compression.
  public static let identity = CompressionAlgorithm("identity")
  /// gzip (RFC 1952).
  public static let gzip = CompressionAlgorithm("gzip")

  public var description: String { self.name }
}

/// Compression of one server call's messages, shared by its handler and the transport.
///
/// Responses are sent uncompressed unless the handler sets ``compressesResponses`` and the
/// client advertised gzip in `grpc-accept-encoding`; the flag is read for every message, so a
/// streaming handler can compress some messages and not others. ``lastRequestWasCompressed``
/// tells whether the message the handler received last arrived compressed.
public final class ServerMessageCompression: Sendable {
  private struct State {
    var compressesResponses = false
    var lastRequestWasCompressed = false
  }

  private let state = Mutex(State())

  public init() {}

  /// Whether responses are compressed (when the client accepts gzip). Default `false`.
  public var compressesResponses: Bool {
    get { self.state.withLock { $0.compressesResponses } }
    set { self.state.withLock { $0.compressesResponses = newValue } }
  }

  /// Whether the most recently received request message was compressed.
  public var lastRequestWasCompressed: Bool {
    self.state.withLock { $0.lastRequestWasCompressed }
  }

  /// Records how the message just handed to the handler arrived; called by transports.
  public func recordRequest(compressed: Bool) {
    self.state.withLock { $0.lastRequestWasCompressed = compressed }
  }
}
