import ArgumentParser
import GatewayService
import Logging
import RPCHTTP2
import ServiceKit
import ServiceRuntime

/// The gateway executable.
@main
struct GatewayCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gateway",
    abstract: "One entry point for the suite: routes, balances, retries, authenticates and rate-limits calls.",
    discussion: """
      Configuration: --config FILE (or GATEWAY_CONFIG), and GATEWAY_<KEYWORD> variables for any of
      its lines (GATEWAY_ROUTE="identity.v1.* HOST:PORT HOST:PORT; catalog.v1.* HOST:PORT", …),
      which take precedence; the format is in docs/gateway.md.
      Environment: LOG_LEVEL. Logs are JSON lines on stderr (one access line per call); one line
      says when the server is ready and where. SIGTERM or SIGINT drains in-flight calls,
      long streams included, and exits 0.
      """)

  @Option(help: "Configuration file (default: GATEWAY_CONFIG; optional when GATEWAY_ROUTE is set).")
  var config: String?

  @OptionGroup var server: ServerOptions

  /// The gateway's busy-polling window unless `--busy-poll-us` says otherwise (BENCHMARKS.md,
  /// gateway section, has the latency it buys).
  static let defaultBusyPollWindow: Duration = .microseconds(200)

  func run() async throws {
    // Busy polling is on by default here: a proxy pays a thread wake-up on each of its two hops,
    // and the poller stops spinning by itself once a loop has more than a few calls open.
    let host = ServiceHost(
      name: "gateway", defaultPort: 50050, server: self.server,
      serverConfiguration: GRPCServer.Configuration(busyPollWindow: Self.defaultBusyPollWindow))
    let logger = host.bootstrapLogging()
    let gateway = try Self.gateway(configPath: self.config, logger: logger)
    try await host.run { _ in
      HostedService(
        services: gateway.services, interceptors: gateway.interceptors,
        workers: [BackgroundWorker("replica-health-checks") { await gateway.proxy.runHealthChecks() }],
        configureServer: { $0.eventLoopUnaryHandler = gateway.eventLoopPath },
        close: { await gateway.proxy.close() })
    }
  }

  /// The gateway its configuration describes, or the one line that says what is wrong.
  static func gateway(configPath: String?, logger: Logger) throws -> Gateway {
    let environment = Environment.all()
    let path = configPath ?? environment["GATEWAY_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    guard path != nil || environment[GatewayConfiguration.variable(for: "route")] != nil else {
      throw StartupError(message: "Give --config FILE, GATEWAY_CONFIG or GATEWAY_ROUTE (see docs/gateway.md).")
    }
    var text = ""
    if let path {
      guard let contents = ConfigurationFile.read(path) else {
        throw StartupError(message: "Cannot read the gateway configuration \(path).")
      }
      text = contents
    }
    let configuration: GatewayConfiguration
    do {
      configuration = try GatewayConfiguration(
        parsing: text, environment: environment,
        knownMethods: CompiledServices.methodsByService.mapValues { $0.map(\.descriptor.path) })
    } catch {
      throw StartupError(message: path.map { "\($0): \(error)" } ?? "\(error)")
    }
    let gateway: Gateway
    do {
      gateway = try Gateway(configuration: configuration, logger: logger)
    } catch {
      throw StartupError(message: "\(error)")
    }
    if gateway.proxy.routedServices.isEmpty {
      throw StartupError(message: "\(path ?? "GATEWAY_ROUTE"): no route names a service this gateway knows.")
    }
    return gateway
  }
}
