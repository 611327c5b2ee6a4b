import ArgumentParser
import RPCHTTP2
import ServiceKit
import ServiceRuntime
import Testing

@Suite("Shared server options")
struct ServerOptionsTests {
  @Test func threadsAndBusyPollingReachTheServerConfiguration() throws {
    let options = try ServerOptions.parse(["--threads", "3", "--busy-poll-us", "200"])
    let configuration = options.serverConfiguration()
    #expect(configuration.threads == 3)
    #expect(configuration.busyPollWindow == .microseconds(200))
    let defaults = try ServerOptions.parse([]).serverConfiguration()
    #expect(defaults.busyPollWindow == nil)
    #expect(defaults.threads == GRPCServer.Configuration().threads)
  }

  @Test func anExecutablesDefaultBusyPollingHoldsUntilTheOptionOverridesIt() throws {
    let gatewayDefault = GRPCServer.Configuration(busyPollWindow: .microseconds(200))
    #expect(try ServerOptions.parse([]).serverConfiguration(gatewayDefault).busyPollWindow == .microseconds(200))
    #expect(try ServerOptions.parse(["--busy-poll-us", "0"]).serverConfiguration(gatewayDefault).busyPollWindow == nil)
    #expect(try ServerOptions.parse(["--busy-poll-us", "50"]).serverConfiguration(gatewayDefault).busyPollWindow == .microseconds(50))
  }

  @Test(arguments: [
    (["--busy-poll-us=-1"], "--busy-poll-us must be in 0...100000, got -1."),
    (["--busy-poll-us", "100001"], "--busy-poll-us must be in 0...100000, got 100001."),
    (["--threads", "0"], "--threads must be in 1...256, got 0."),
  ])
  func outOfRangeValuesAreRefusedNamingTheOption(arguments: [String], message: String) {
    // Parsing runs `validate()`; the message is what the executable prints.
    let error = #expect(throws: (any Error).self) { _ = try ServerOptions.parse(arguments) }
    #expect(error.map { ServerOptions.message(for: $0) } == message)
  }
}
