// db-bench: primary-key lookups through the suite's PostgreSQL pool, the same workload as
// `pgbench -S -M prepared` (SELECT abalance FROM pgbench_accounts WHERE aid = $1, aid uniform
// over the scale's rows) so that the two can be run side by side on one server. Prints one
// line: transactions per second and latency percentiles in milliseconds.
import ArgumentParser
import Logging
import Postgres
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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

  @Option(help: "Postgres event loop threads (like pgbench -j); defaults to the shared group's size.")
  var eventLoops: Int?

  func run() async throws {
    var configuration = PostgresPool.Configuration(connection: try PostgresConfiguration(parsing: self.databaseURL))
    configuration.maximumConnections = self.connections ?? self.clients
    if let eventLoops = self.eventLoops {
      configuration.eventLoopGroup = PostgresEventLoopGroup(loopCount: eventLoops)
    }
    let loops = configuration.eventLoopGroup.loops
    let pool = PostgresPool(configuration: configuration, logger: Logger(label: "db-bench"))
    let accounts = Int32(self.scale * 100_000)
    // Each client is a task that prefers one of the pool's event loops (spread evenly), the way
    // a server's handlers prefer the loop of their connection: leases then get a connection of
    // that loop, and a query's answer resumes the client on the thread that read it.
    // Warm up: open every connection (on the loop of the task that needs it) and prepare the
    // statement on each.
    try await withThrowingTaskGroup(of: Void.self) { group in
      for client in 0..<configuration.maximumConnections {
        group.addTask(executorPreference: loops[client % loops.count]) {
          for aid in 1...50 { _ = try await pool.execute(AccountBalance(aid: Int32(aid))) }
        }
      }
      try await group.waitForAll()
    }
    let usageBefore = ResourceUsage.now()
    let end = ContinuousClock.now + .seconds(self.seconds)
    let start = ContinuousClock.now
    let latencies = try await withThrowingTaskGroup(of: [Int64].self) { group in
      for client in 0..<self.clients {
        group.addTask(executorPreference: loops[client % loops.count]) {
          var samples: [Int64] = []
          samples.reserveCapacity(200_000)
          // A cheap generator (pgbench has its own too): no getrandom system call per lookup.
          var generator = SplitMix64(seed: UInt64(client) &+ 0x9E37_79B9_7F4A_7C15 &* UInt64.random(in: 1...UInt64.max))
          while ContinuousClock.now < end {
            let aid = Int32.random(in: 1...accounts, using: &generator)
            let before = ContinuousClock.now
            // One lease per transaction, as a service handler does per request.
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
    let usage = ResourceUsage.now() - usageBefore
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    func percentile(_ q: Double) -> Double {
      Double(latencies[min(latencies.count - 1, Int(q * Double(latencies.count)))]) / 1000
    }
    let tps = Double(latencies.count) / seconds
    let count = Double(max(1, latencies.count))
    print(
      "tps=\(Int(tps)) p50=\(format(percentile(0.5))) p90=\(format(percentile(0.9))) p99=\(format(percentile(0.99))) transactions=\(latencies.count)"
        + " cpu_us_per_tx=\(format(usage.cpuMicroseconds / count)) user_us=\(format(usage.userMicroseconds / count))"
        + " sys_us=\(format(usage.systemMicroseconds / count)) csw_per_tx=\(format(usage.contextSwitches / count))"
    )
    await pool.close()
  }
}

/// SplitMix64 (Steele, Lea, Flood), enough for picking uniform account ids.
struct SplitMix64: RandomNumberGenerator {
  private var state: UInt64
  init(seed: UInt64) { self.state = seed }
  mutating func next() -> UInt64 {
    self.state &+= 0x9E37_79B9_7F4A_7C15
    var z = self.state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Process CPU time and context switches (getrusage), to report client cost per transaction.
struct ResourceUsage {
  var userMicroseconds: Double
  var systemMicroseconds: Double
  var contextSwitches: Double
  var cpuMicroseconds: Double { self.userMicroseconds + self.systemMicroseconds }

  static func now() -> ResourceUsage {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return ResourceUsage(
      userMicroseconds: Double(usage.ru_utime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec),
      systemMicroseconds: Double(usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_stime.tv_usec),
      contextSwitches: Double(usage.ru_nvcsw + usage.ru_nivcsw))
  }

  static func - (a: ResourceUsage, b: ResourceUsage) -> ResourceUsage {
    ResourceUsage(
      userMicroseconds: a.userMicroseconds - b.userMicroseconds,
      systemMicroseconds: a.systemMicroseconds - b.systemMicroseconds,
      contextSwitches: a.contextSwitches - b.contextSwitches)
  }
}

func format(_ value: Double) -> String {
  let thousandths = Int((value * 1000).rounded())
  let fraction = String(thousandths % 1000)
  return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}
