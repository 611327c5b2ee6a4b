import ArgumentParser
import InteropService
import RPCHTTP2
import ServiceRuntime

/// Serves `grpc.testing.TestService` for gRPC interop clients.
@main
struct InteropServer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "interop-server",
    abstract: "Serves grpc.testing.TestService (gRPC interop tests) and grpc.health.v1.Health.",
    discussion: ServerOptions.discussion(
      environment: "LOG_LEVEL (trace, debug, info, notice, warning, error, critical; default info)",
      stopping: "stops the server"))

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
    var configuration = GRPCServer.Configuration()
    configuration.maxReceiveMessageBytes = self.maxReceiveMessageBytes
    configuration.handshakeTimeout = .milliseconds(Int64(self.handshakeTimeout * 1000))
    try await ServiceHost(
      name: "interop-server", defaultPort: 50060, server: self.server, serverConfiguration: configuration
    ).run { _ in HostedService(services: [TestService()]) }
  }
}
