// Shared by every test target that needs a real PostgreSQL server (PostgresTests,
// MigrationsTests, SuiteDatabaseTests): one throwaway cluster per test process.
import Foundation
public import Logging
public import Postgres

#if canImport(Glibc)
import Glibc
#endif

/// The PostgreSQL server the tests use: `POSTGRES_TEST_URL` when set, otherwise one throwaway
/// cluster per test run started with scripts/pg-cluster.sh (PG_FAST=1, a free loopback port, a
/// data folder under /tmp). The script's watcher stops the cluster and deletes its folder once
/// this test process exits.
public actor TestCluster {
  public static let shared = TestCluster()

  private var starting: Task<PostgresConfiguration, any Error>?

  /// Superuser configuration of the server (database `postgres`).
  public func adminConfiguration() async throws -> PostgresConfiguration {
    if let starting { return try await starting.value }
    let task = Task {
      // Starting the cluster blocks for about a second: keep it off the cooperative pool.
      try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try Self.start() }) }.start()
      }
    }
    self.starting = task
    return try await task.value
  }

  /// Whether the tests run against a cluster they started (and may do superuser things in).
  public nonisolated var isPrivateCluster: Bool {
    ProcessInfo.processInfo.environment["POSTGRES_TEST_URL"] == nil
  }

  private static func start() throws -> PostgresConfiguration {
    if let url = ProcessInfo.processInfo.environment["POSTGRES_TEST_URL"], !url.isEmpty {
      return try PostgresConfiguration(parsing: url)
    }
    let directory = "/tmp/pgtest-\(getpid())"
    var attempt = 1
    while true {
      try? FileManager.default.removeItem(atPath: directory)
      do {
        let output = try runClusterScript(
          ["start", directory, String(try freeLoopbackPort())],
          environment: ["PG_FAST=1", "PG_STOP_WHEN_PID_EXITS=\(getpid())", "PG_REMOVE_ON_STOP=1"])
        var configuration = try PostgresConfiguration(parsing: output)
        configuration.connectTimeout = .seconds(5)
        return configuration
      } catch let error as ClusterError where error.isPortTaken && attempt < 5 {
        // Another process took the port between the check and the server's bind: try another.
        attempt += 1
      }
    }
  }

  public struct ClusterError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
    /// The server could not listen because its port was taken meanwhile.
    var isPortTaken: Bool { self.message.contains("Address already in use") }
  }
}

/// A cluster of one test's own, which the test may stop and start again (for failure tests);
/// removed once the test process exits.
public final class ScratchCluster: Sendable {
  public let directory: String
  public let port: Int

  /// Creates and starts a cluster in a fresh folder on a free port; returns its superuser URL.
  public init() throws {
    self.directory = "/tmp/pgscratch-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    self.port = try freeLoopbackPort()
    _ = try self.start()
  }

  /// Starts the (stopped) cluster again on the same port; returns its superuser configuration.
  @discardableResult
  public func start() throws -> PostgresConfiguration {
    let output = try runClusterScript(
      ["start", self.directory, String(self.port)],
      environment: ["PG_FAST=1", "PG_STOP_WHEN_PID_EXITS=\(getpid())", "PG_REMOVE_ON_STOP=1"])
    var configuration = try PostgresConfiguration(parsing: output)
    configuration.connectTimeout = .seconds(5)
    return configuration
  }

  /// Stops the cluster with a fast shutdown: open sessions are terminated.
  public func stop() throws {
    _ = try runClusterScript(["stop", self.directory], environment: [])
  }

  /// Stops the cluster and deletes its folder.
  public func remove() {
    try? self.stop()
    try? FileManager.default.removeItem(atPath: self.directory)
  }
}

/// Runs scripts/pg-cluster.sh with `arguments` on the calling thread; returns the last line of
/// its output (the URL, for `start`).
private func runClusterScript(_ arguments: [String], environment: [String]) throws -> String {
  let script = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("scripts/pg-cluster.sh")
  // popen + pclose (which reaps the child) instead of Foundation.Process, whose waitUntilExit
  // can hang on Linux.
  let command = (environment + ["/bin/bash", shellQuote(script.path)] + arguments.map(shellQuote) + ["2>&1"])
    .joined(separator: " ")
  guard let pipe = popen(command, "r") else {
    throw TestCluster.ClusterError(message: "popen failed for pg-cluster.sh")
  }
  var data: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = fread(&buffer, 1, buffer.count, pipe)
    if count <= 0 { break }
    data.append(contentsOf: buffer[..<count])
  }
  let status = pclose(pipe)
  let output = String(decoding: data, as: UTF8.self)
  guard status == 0 else {
    throw TestCluster.ClusterError(message: "pg-cluster.sh \(arguments.first ?? "") failed (\(status)): \(output)")
  }
  return output.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
}

private func shellQuote(_ text: String) -> String {
  "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A TCP port on 127.0.0.1 that is free now, chosen at random below Linux's ephemeral range
/// (32768-60999) so that no outgoing connection on the machine can take it before the server
/// binds it, nor while a failure test has the server stopped. Falls back to a port the kernel
/// picks.
private func freeLoopbackPort() throws -> Int {
  for _ in 0..<64 {
    let candidate = Int.random(in: 20_000..<32_768)
    if try canBindLoopback(port: candidate) { return candidate }
  }
  return try boundLoopbackPort(0)
}

private func canBindLoopback(port: Int) throws -> Bool {
  do {
    _ = try boundLoopbackPort(port)
    return true
  } catch let error as TestCluster.ClusterError where error.message == "bind() failed" {
    return false
  }
}

/// Binds a socket to 127.0.0.1:`port` (0: any free port), closes it and returns the port.
private func boundLoopbackPort(_ port: Int) throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw TestCluster.ClusterError(message: "socket() failed") }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = UInt16(port).bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard bound == 0 else { throw TestCluster.ClusterError(message: "bind() failed") }
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return Int(UInt16(bigEndian: address.sin_port))
}

public let testLogger = Logger(label: "postgres-tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs `body` with a configuration whose search_path is a fresh schema, dropped afterwards.
/// `application_name` is the schema name, so tests can find their own sessions.
public func withTestSchema<Result>(
  _ name: String, _ body: (PostgresConfiguration) async throws -> Result
) async throws -> Result {
  let admin = try await TestCluster.shared.adminConfiguration()
  let schema = "t_\(name)_\(UInt32.random(in: 0...UInt32.max))"
  let connection = try await PostgresConnection.connect(configuration: admin, logger: testLogger)
  try await connection.query("CREATE SCHEMA \(identifier: schema)")
  var configuration = admin
  configuration.searchPath = [schema]
  configuration.applicationName = schema
  do {
    let result = try await body(configuration)
    try await connection.query("DROP SCHEMA \(identifier: schema) CASCADE")
    await connection.close()
    return result
  } catch {
    _ = try? await connection.query("DROP SCHEMA \(identifier: schema) CASCADE")
    await connection.close()
    throw error
  }
}

/// Runs `body` with a connection to a fresh schema.
public func withTestConnection<Result>(
  _ name: String, _ body: (PostgresConnection) async throws -> Result
) async throws -> Result {
  try await withTestSchema(name) { configuration in
    let connection = try await PostgresConnection.connect(configuration: configuration, logger: testLogger)
    do {
      let result = try await body(connection)
      await connection.close()
      return result
    } catch {
      await connection.close()
      throw error
    }
  }
}
