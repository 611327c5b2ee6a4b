public import ArgumentParser
public import RPCHTTP2
public import ServiceKit

/// The command-line options every server executable shares (ARCHITECTURE.md's conventions):
/// `--listen HOST:PORT` or `--port N`, and the drain time after SIGTERM/SIGINT.
public struct ServerOptions: ParsableArguments, Sendable {
  @Option(help: "Address to listen on, HOST:PORT (default: the executable's standard port on 127.0.0.1).")
  public var listen: String?

  @Option(help: "Port to listen on at 127.0.0.1 (short for --listen 127.0.0.1:N).")
  public var port: Int?

  @Option(help: "Seconds in-flight calls get to finish after SIGTERM or SIGINT.")
  public var drainTimeout: Double = 10

  @Option(help: "Event-loop threads (default: one per core).")
  public var threads: Int?

  @Option(
    name: .customLong("busy-poll-us"),
    help: "Keep an event loop polling without sleeping for this many microseconds after each read while it has few calls open (lower latency, more CPU; 0: off; default: the executable's, off except in the gateway).")
  public var busyPollMicroseconds: Int?

  public init() {}

  public func validate() throws {
    if self.listen != nil && self.port != nil {
      throw ValidationError("Give --listen or --port, not both.")
    }
    if let listen, ListenAddress(parsing: listen) == nil {
      throw ValidationError("--listen must be HOST:PORT with a port in 0...65535, got '\(listen)'.")
    }
    if let port, !(0...65535).contains(port) {
      throw ValidationError("--port must be in 0...65535, got \(port).")
    }
    if let threads, !(1...256).contains(threads) {
      throw ValidationError("--threads must be in 1...256, got \(threads).")
    }
    if let busyPollMicroseconds, !(0...100_000).contains(busyPollMicroseconds) {
      throw ValidationError("--busy-poll-us must be in 0...100000, got \(busyPollMicroseconds).")
    }
    if !(self.drainTimeout >= 0) {
      throw ValidationError("--drain-timeout must not be negative.")
    }
  }

  /// The address to listen on: `--listen`, `--port`, or 127.0.0.1:`defaultPort`.
  public func address(defaultPort: Int) -> ListenAddress {
    self.listen.flatMap(ListenAddress.init(parsing:)) ?? ListenAddress(host: "127.0.0.1", port: self.port ?? defaultPort)
  }

  /// `base` with the options that shape the server applied (`--threads`, `--busy-poll-us`);
  /// what is not given keeps `base`'s value, the executable's default.
  public func serverConfiguration(_ base: GRPCServer.Configuration = GRPCServer.Configuration()) -> GRPCServer.Configuration {
    var configuration = base
    if let threads = self.threads { configuration.threads = threads }
    if let busyPollMicroseconds = self.busyPollMicroseconds {
      configuration.busyPollWindow = busyPollMicroseconds > 0 ? .microseconds(busyPollMicroseconds) : nil
    }
    return configuration
  }

  /// `--drain-timeout` as a duration.
  public var drain: Duration { .milliseconds(Int64(self.drainTimeout * 1000)) }
}

extension ServerOptions {
  /// The `--help` discussion every server shares, after the environment variables it reads.
  public static func discussion(environment: String, stopping: String = "drains in-flight calls") -> String {
    """
    Environment: \(environment).
    Logs are JSON lines on stderr; one line says when the server is ready and where.
    SIGTERM or SIGINT \(stopping) and exits 0.
    """
  }
}
