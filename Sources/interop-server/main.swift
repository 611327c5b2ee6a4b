import ArgumentParser
import InteropService
import Logging
import RPCHTTP2
import ServiceKit

/// Serves `grpc.testing.TestService` for gRPC interop clients.
@main
struct InteropServer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "interop-server",
    abstract: "Serves grpc.testing.TestService (gRPC interop tests) and grpc.health.v1.Health.",
    discussion: """
      Environment: LOG_LEVEL (trace, debug, info, notice, warning, error, critical; default info).
      Logs are JSON lines on stderr; one line says when the server is ready and where.
      SIGTERM or SIGINT stops the server and exits 0.
      """
  )

  @Option(help: "Address to listen on, HOST:PORT. Default 127.0.0.1:50060.")
  var listen: String?

  @Option(help: "Port to listen on at 127.0.0.1 (short for --listen 127.0.0.1:N).")
  var port: Int?

  @Option(help: "Largest request message accepted, in bytes.")
  var maxReceiveMessageBytes: Int = 4 << 20

  @Option(help: "Seconds a new connection may stay silent before it is closed.")
  var handshakeTimeout: Double = 10

  @Option(help: "Seconds in-flight calls get to finish after SIGTERM or SIGINT.")
  var drainTimeout: Double = 10

  func validate() throws {
    if self.listen != nil && self.port != nil {
      throw ValidationError("Give --listen or --port, not both.")
    }
    if let listen, ListenAddress(parsing: listen) == nil {
      throw ValidationError("--listen must be HOST:PORT with a port in 0...65535, got '\(listen)'.")
    }
    if let port, !(0...65535).contains(port) {
      throw ValidationError("--port must be in 0...65535, got \(port).")
    }
    if !(self.handshakeTimeout > 0) || !(self.drainTimeout >= 0) {
      throw ValidationError("--handshake-timeout must be positive and --drain-timeout not negative.")
    }
    if self.maxReceiveMessageBytes < 1 {
      throw ValidationError("--max-receive-message-bytes must be positive.")
    }
  }

  func run() async throws {
    LoggingSystem.bootstrap(JSONLogHandler.init)
    let logger = Logger(label: "interop-server")
    let address =
      self.listen.flatMap(ListenAddress.init(parsing:))
      ?? ListenAddress(host: "127.0.0.1", port: self.port ?? 50060)
    var configuration = GRPCServer.Configuration()
    configuration.maxReceiveMessageBytes = self.maxReceiveMessageBytes
    configuration.handshakeTimeout = .milliseconds(Int64(self.handshakeTimeout * 1000))
    try await ServerRunner.run(
      name: "interop-server", address: address, services: [TestService()],
      configuration: configuration, drainTimeout: .milliseconds(Int64(self.drainTimeout * 1000)),
      logger: logger)
  }
}
