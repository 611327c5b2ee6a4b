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

  @OptionGroup var server: ServerOptions

  @Option(help: "Largest request message accepted, in bytes.")
  var maxReceiveMessageBytes: Int = 4 << 20

  @Option(help: "Seconds a new connection may stay silent before it is closed.")
  var handshakeTimeout: Double = 10

  func validate() throws {
    if !(self.handshakeTimeout > 0) {
      throw ValidationError("--handshake-timeout must be positive.")
    }
    if self.maxReceiveMessageBytes < 1 {
      throw ValidationError("--max-receive-message-bytes must be positive.")
    }
  }

  func run() async throws {
    LoggingSystem.bootstrap(JSONLogHandler.init)
    let logger = Logger(label: "interop-server")
    let address = self.server.address(defaultPort: 50060)
    var configuration = self.server.serverConfiguration()
    configuration.maxReceiveMessageBytes = self.maxReceiveMessageBytes
    configuration.handshakeTimeout = .milliseconds(Int64(self.handshakeTimeout * 1000))
    try await ServerRunner.run(
      name: "interop-server", address: address, services: [TestService()],
      configuration: configuration, drainTimeout: self.server.drain,
      logger: logger)
  }
}
