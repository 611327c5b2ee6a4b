import ServiceKit
import Synchronization
import Testing

final class Counter: Sendable {
  let value = Atomic<Int>(0)
}

@Suite("Blocking thread pool")
struct BlockingThreadPoolTests {
  @Test func jobsRunInParallelUpToTheThreadCount() async throws {
    let pool = BlockingThreadPool(threadCount: 4)
    let running = Counter()
    // Each job waits until all four run at once: a pool that ran fewer at a time would time out.
    let allMet = try await withThrowingTaskGroup(of: Bool.self) { group in
      for _ in 0..<4 {
        group.addTask {
          try await pool.run {
            running.value.add(1, ordering: .relaxed)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while running.value.load(ordering: .relaxed) < 4, clock.now < deadline {}
            return running.value.load(ordering: .relaxed) >= 4
          }
        }
      }
      return try await group.reduce(true) { $0 && $1 }
    }
    #expect(allMet)
  }

  @Test func aJobsResultAndErrorReachTheCaller() async throws {
    struct Failure: Error {}
    let pool = BlockingThreadPool(threadCount: 1)
    #expect(try await pool.run { 6 * 7 } == 42)
    await #expect(throws: Failure.self) { try await pool.run { throw Failure() } }
    // More jobs than threads wait their turn.
    let sums = try await withThrowingTaskGroup(of: Int.self) { group in
      for value in 1...20 { group.addTask { try await pool.run { value } } }
      return try await group.reduce(0, +)
    }
    #expect(sums == 210)
  }
}
