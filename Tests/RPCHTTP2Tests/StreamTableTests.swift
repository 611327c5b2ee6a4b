import Testing

@testable import RPCHTTP2

@Suite("Stream table")
struct StreamTableTests {
  /// Random inserts, lookups and removals, checked against `Dictionary` after every step: the
  /// keys are drawn from a small range so that probe runs collide, wrap around the end of the
  /// slots and lose members from their middle (the backward-shift deletion's hard cases).
  /// Inserts, lookups and removals in a scrambled order, checked against `Dictionary` after
  /// every step: the keys come from a small range so that probe runs collide, wrap around the
  /// end of the slots and lose members from their middle (the backward-shift deletion's hard
  /// cases).
  @Test func behavesLikeADictionaryThroughInsertsRemovalsAndGrowth() {
    /// Step `n`'s pseudo-random bits: the top of a multiplicative hash (deterministic, so a
    /// failure reproduces).
    func bits(_ n: Int, _ salt: UInt64) -> Int {
      Int(truncatingIfNeeded: ((UInt64(n) &+ salt) &* 0x9E37_79B9_7F4A_7C15) >> 40)
    }
    var table = StreamTable<String>()
    var reference: [Int: String] = [:]
    for step in 0..<20_000 {
      let key = bits(step, 1) % 300 - 20
      if bits(step, 2) % 3 < 2 {
        table[key] = "\(step)"
        reference[key] = "\(step)"
      } else {
        #expect(table.removeValue(forKey: key) == reference.removeValue(forKey: key))
      }
      #expect(table.count == reference.count)
      let probe = bits(step, 3) % 300 - 20
      #expect(table[probe] == reference[probe])
    }
    for key in -20..<280 { #expect(table[key] == reference[key], "key \(key)") }
    #expect(table.values.sorted() == reference.values.sorted())
  }

  @Test func http2StreamIDsComeAndGoAsOnAConnection() {
    // Odd, growing ids, a window of them open at a time: what a busy connection does.
    var table = StreamTable<Int32>()
    var open: [Int32] = []
    for id in stride(from: Int32(1), to: 200_001, by: 2) {
      table[id] = id
      open.append(id)
      if open.count > 100 { #expect(table.removeValue(forKey: open.removeFirst()) != nil) }
    }
    #expect(table.count == 100)
    for id in open { #expect(table[id] == id) }
    #expect(table[Int32(3)] == nil)
    for id in open { table[id] = nil }
    #expect(table.isEmpty)
  }

  @Test func assigningNilRemovesAndReplacingKeepsTheCount() {
    var table = StreamTable<String>()
    table[5] = "a"
    table[5] = "b"
    #expect(table.count == 1 && table[5] == "b")
    table[5] = nil
    #expect(table.isEmpty && table[5] == nil)
    #expect(table.removeValue(forKey: 5) == nil)
  }
}
