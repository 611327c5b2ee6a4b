internal import NIOCore
internal import NIOPosix
internal import Synchronization

/// Connections to one server, one per event loop that forwards calls: a proxy forwards a call
/// on the loop it arrived on (``HTTP2ClientTransport/startUnaryOnCurrentEventLoop``), without
/// hopping threads, so each of its loops needs a connection of its own.
public final class EventLoopLocalTransports: Sendable {
  public let host: String
  public let port: Int
  public let configuration: HTTP2ClientTransport.Configuration
  private let transports = Mutex<[ObjectIdentifier: HTTP2ClientTransport]>([:])

  /// Nothing connects until a transport is used.
  public init(host: String, port: Int, configuration: HTTP2ClientTransport.Configuration) {
    self.host = host
    self.port = port
    self.configuration = configuration
  }

  /// The transport whose connection lives on the current event loop (made on first use);
  /// `nil` off the event loops.
  public func current() -> HTTP2ClientTransport? {
    guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return nil }
    let id = ObjectIdentifier(loop)
    return self.transports.withLock { transports in
      if let transport = transports[id] { return transport }
      let transport = HTTP2ClientTransport(
        host: self.host, port: self.port, configuration: self.configuration, eventLoopGroup: loop)
      transports[id] = transport
      return transport
    }
  }

  /// Closes every connection.
  public func close() async {
    for transport in self.transports.withLock({ Array($0.values) }) { await transport.close() }
  }
}
