// db-bench: primary-key lookups through the suite's PostgreSQL pool, the same workload as
// `pgbench -S -M prepared` (SELECT abalance FROM pgbench_accounts WHERE aid = $1, aid uniform
// over the scale's rows) so that the two can be run side by side on one server. Prints one
// line: transactions per second and latency percentiles in milliseconds.
import ArgumentParser
import Logging
import Postgres
import Synchronization

struct AccountBalance: PostgresPreparedStatement {
  static let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
  typealias Row = Int32
  var aid: Int32

  func makeBindings() -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(self.aid)
    return bindings
  }

  func decodeRow(_ row: PostgresRow) throws -> Int32 { try row.decode(Int32.self) }
}

@main
struct DBBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "db-bench",
    abstract: "Primary-key lookups through the connection pool (the pgbench -S workload).")

  @Option(help: "PostgreSQL URL of a database initialised with `pgbench -i`.")
  var databaseURL: String

  @Option(help: "Concurrent clients (tasks), like pgbench -c.")
  var clients = 8

  @Option(help: "Pool size (connections); defaults to the number of clients, as pgbench opens one per client.")
  var connections: Int?

  @Option(help: "Seconds to run, like pgbench -T.")
  var seconds = 10

  @Option(help: "pgbench scale factor the database was initialised with (100000 accounts each).")
  var scale = 1

  func run() async throws {
    var configuration = PostgresPool.Configuration(connection: try PostgresConfiguration(parsing: self.databaseURL))
    configuration.maximumConnections = self.connections ?? self.clients
    let pool = PostgresPool(configuration: configuration, logger: Logger(label: "db-bench"))
    let accounts = Int32(self.scale * 100_000)
    // Warm up: open every connection and prepare the statement on each.
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<configuration.maximumConnections {
        group.addTask { for aid in 1...50 { _ = try await pool.execute(AccountBalance(aid: Int32(aid))) } }
      }
      try await group.waitForAll()
    }
    let end = ContinuousClock.now + .seconds(self.seconds)
    let start = ContinuousClock.now
    let latencies = try await withThrowingTaskGroup(of: [Int64].self) { group in
      for _ in 0..<self.clients {
        group.addTask {
          var samples: [Int64] = []
          samples.reserveCapacity(200_000)
          var generator = SystemRandomNumberGenerator()
          while ContinuousClock.now < end {
            let aid = Int32.random(in: 1...accounts, using: &generator)
            let before = ContinuousClock.now
            let rows = try await pool.execute(AccountBalance(aid: aid))
            precondition(rows.count == 1, "account \(aid) missing: initialise with pgbench -i -s \(self.scale)")
            let elapsed = ContinuousClock.now - before
            samples.append(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)
          }
          return samples
        }
      }
      var all: [Int64] = []
      for try await samples in group { all += samples }
      return all.sorted()
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    func percentile(_ q: Double) -> Double {
      Double(latencies[min(latencies.count - 1, Int(q * Double(latencies.count)))]) / 1000
    }
    let tps = Double(latencies.count) / seconds
    print(
      "tps=\(Int(tps)) p50=\(format(percentile(0.5))) p90=\(format(percentile(0.9))) p99=\(format(percentile(0.99))) transactions=\(latencies.count)"
    )
    await pool.close()
  }
}

func format(_ value: Double) -> String {
  let thousandths = Int((value * 1000).rounded())
  let fraction = String(thousandths % 1000)
  return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}
