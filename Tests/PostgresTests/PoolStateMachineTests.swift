@testable import Postgres
import Testing

@Suite("PoolStateMachine")
struct PoolStateMachineTests {
  typealias Machine = PoolStateMachine<String>

  @Test func connectsUpToMaximumThenQueues() {
    var machine = Machine(maximumConnections: 2, minimumIdleConnections: 0)
    guard case .connect = machine.lease(waiter: 1) else { Issue.record("expected connect"); return }
    guard case .connect = machine.lease(waiter: 2) else { Issue.record("expected connect"); return }
    guard case .wait = machine.lease(waiter: 3) else { Issue.record("expected wait"); return }
    #expect(machine.connecting == 2)
    #expect(machine.waiters == [3])
    _ = machine.connectSucceeded()
    _ = machine.connectSucceeded()
    #expect(machine.leased == 2)

    // A returned connection goes straight to the first waiter.
    let actions = machine.release("a", reusable: true, now: .now)
    #expect(actions.grants.count == 1)
    #expect(actions.grants.first?.waiter == 3)
    if case .connection(let connection)? = actions.grants.first?.grant {
      #expect(connection == "a")
    } else {
      Issue.record("expected a connection grant")
    }
    #expect(machine.leased == 2)
    #expect(machine.total == 2)
  }

  @Test func brokenConnectionHandsSlotToWaiter() {
    var machine = Machine(maximumConnections: 1, minimumIdleConnections: 0)
    _ = machine.lease(waiter: 1)
    _ = machine.connectSucceeded()
    _ = machine.lease(waiter: 2)
    let actions = machine.release("dead", reusable: false, now: .now)
    #expect(actions.close == ["dead"])
    #expect(actions.grants.count == 1)
    if case .connectSlot? = actions.grants.first?.grant {} else { Issue.record("expected a slot") }
    #expect(machine.connecting == 1)
    #expect(machine.leased == 0)
  }

  @Test func failedConnectPassesSlotOn() {
    var machine = Machine(maximumConnections: 1, minimumIdleConnections: 0)
    _ = machine.lease(waiter: 1)
    _ = machine.lease(waiter: 2)
    let actions = machine.connectFailed()
    #expect(actions.grants.map(\.waiter) == [2])
    #expect(machine.connecting == 1)
    #expect(machine.waiters.isEmpty)
  }

  @Test func reusesMostRecentIdleAndTimesOutOldest() {
    var machine = Machine(maximumConnections: 3, minimumIdleConnections: 1)
    for id in 1...3 { _ = machine.lease(waiter: id); _ = machine.connectSucceeded() }
    let start = ContinuousClock.now
    _ = machine.release("old", reusable: true, now: start)
    _ = machine.release("mid", reusable: true, now: start + .seconds(10))
    _ = machine.release("new", reusable: true, now: start + .seconds(20))
    guard case .use(let first) = machine.lease(waiter: 9) else { Issue.record("expected use"); return }
    #expect(first == "new")
    _ = machine.release("new", reusable: true, now: start + .seconds(20))

    let plan = machine.planMaintenance(now: start + .seconds(60), idleTimeout: .seconds(55))
    #expect(plan.close == ["old"])  // idle 60 s; "mid" (50 s) and "new" stay
    #expect(plan.check == ["mid", "new"])
    #expect(plan.connect == 0)
    #expect(machine.leased == 2)
  }

  @Test func maintenanceRefillsMinimum() {
    var machine = Machine(maximumConnections: 4, minimumIdleConnections: 2)
    let plan = machine.planMaintenance(now: .now, idleTimeout: .seconds(60))
    #expect(plan.connect == 2)
    #expect(machine.connecting == 2)
    _ = machine.connectedForIdle("x", now: .now)
    #expect(machine.idle.count == 1)
  }

  @Test func closeFailsWaitersAndDrains() {
    var machine = Machine(maximumConnections: 1, minimumIdleConnections: 0)
    _ = machine.lease(waiter: 1)
    _ = machine.connectSucceeded()
    _ = machine.lease(waiter: 2)
    let closeActions = machine.close()
    #expect(closeActions.failedWaiters == [2])
    #expect(!closeActions.drained)
    guard case .closed = machine.lease(waiter: 3) else { Issue.record("expected closed"); return }
    let releaseActions = machine.release("a", reusable: true, now: .now)
    #expect(releaseActions.close == ["a"])
    #expect(releaseActions.drained)
  }

  @Test func removedWaiterGetsNothing() {
    var machine = Machine(maximumConnections: 1, minimumIdleConnections: 0)
    _ = machine.lease(waiter: 1)
    _ = machine.connectSucceeded()
    _ = machine.lease(waiter: 2)
    let removed = machine.removeWaiter(2)
    let removedAgain = machine.removeWaiter(2)
    #expect(removed)
    #expect(!removedAgain)
    let actions = machine.release("a", reusable: true, now: .now)
    #expect(actions.grants.isEmpty)
    #expect(machine.idle.count == 1)
  }
}
