import ArgumentParser
import InteropService
import RPCCore
import RPCHTTP2

/// Runs gRPC interop test cases against a `grpc.testing.TestService` server.
@main
struct InteropClient: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "interop-client",
    abstract: "Runs gRPC interop test cases (empty_unary, large_unary, ...) against a server.",
    discussion: "Cases: \(InteropTestCases.names.joined(separator: ", ")), or 'all'. Exits non-zero on the first failure."
  )

  @Option(name: .customLong("server_host"), help: "Server host.")
  var serverHost = "127.0.0.1"

  @Option(name: .customLong("server_port"), help: "Server port.")
  var serverPort = 50060

  @Option(name: .customLong("test_case"), help: "Test case name, comma-separated names, or 'all'.")
  var testCase = "all"

  func validate() throws {
    guard (1...65535).contains(self.serverPort) else { throw ValidationError("--server_port must be in 1...65535.") }
    for name in self.names where !InteropTestCases.names.contains(name) {
      throw ValidationError("Unknown test case '\(name)'.")
    }
  }

  private var names: [String] {
    self.testCase == "all" ? InteropTestCases.names : self.testCase.split(separator: ",").map(String.init)
  }

  func run() async throws {
    let transport = HTTP2ClientTransport(host: self.serverHost, port: self.serverPort)
    let cases = InteropTestCases(client: RPCClient(transport: transport))
    defer { Task { await transport.close() } }
    for name in self.names {
      do {
        try await cases.run(name)
        print("PASS \(name)")
      } catch {
        print("FAIL \(name): \(error)")
        throw ExitCode.failure
      }
    }
  }
}
