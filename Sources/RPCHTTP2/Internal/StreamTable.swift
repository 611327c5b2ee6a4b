/// The streams of one connection by integer key (an HTTP/2 stream id, or a client call's
/// number): open addressing with linear probing and a multiplicative hash.
///
/// A proxied unary call looks streams up about twenty times across its two connections.
/// `Dictionary` hashes every integer key with seeded SipHash; these keys are unique, mostly
/// consecutive integers, which a multiplication spreads well enough, and the peer cannot choose
/// them freely (HTTP/2 ids only ever grow). Event loop only, like the handlers that own it.
struct StreamTable<Value> {
  private struct Slot {
    var key: Int
    var value: Value?
  }

  private static var emptyKey: Int { .min }
  private var slots: [Slot]
  /// `64 - log2(slots.count)`: a key's home slot is the top bits of its product.
  private var shift: Int
  private(set) var count = 0

  init() {
    self.slots = Array(repeating: Slot(key: Self.emptyKey, value: nil), count: 16)
    self.shift = 64 - 4
  }

  var isEmpty: Bool { self.count == 0 }

  /// Every value, in no particular order.
  var values: [Value] { self.slots.compactMap { $0.value } }

  private func home(of key: Int) -> Int {
    Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(key)) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(self.shift))
  }

  /// The slot holding `key`, or the empty slot where it would go.
  private func find(_ key: Int) -> (index: Int, found: Bool) {
    let mask = self.slots.count - 1
    var index = self.home(of: key)
    while true {
      let slotKey = self.slots[index].key
      if slotKey == key { return (index, true) }
      if slotKey == Self.emptyKey { return (index, false) }
      index = (index + 1) & mask
    }
  }

  subscript(key: Int) -> Value? {
    get {
      let (index, found) = self.find(key)
      return found ? self.slots[index].value : nil
    }
    set {
      precondition(key != Self.emptyKey, "StreamTable key out of range")
      guard let newValue else {
        self.removeValue(forKey: key)
        return
      }
      let (index, found) = self.find(key)
      if found {
        self.slots[index].value = newValue
        return
      }
      // At most half full, so probes stay short and an empty slot always ends them.
      if (self.count + 1) * 2 > self.slots.count {
        self.grow()
        self[key] = newValue
        return
      }
      self.slots[index] = Slot(key: key, value: newValue)
      self.count += 1
    }
  }

  subscript(key: Int32) -> Value? {
    get { self[Int(key)] }
    set { self[Int(key)] = newValue }
  }

  @discardableResult
  mutating func removeValue(forKey key: Int) -> Value? {
    let (found, wasFound) = self.find(key)
    guard wasFound else { return nil }
    let removed = self.slots[found].value
    // Backward-shift deletion: later members of the probe run move into the hole when their
    // home slot does not lie between the hole and themselves, so no tombstones are needed.
    let mask = self.slots.count - 1
    var hole = found
    var index = (found + 1) & mask
    while self.slots[index].key != Self.emptyKey {
      let home = self.home(of: self.slots[index].key)
      // Distance from home to index, and from the hole to index, around the ring.
      if (index - home) & mask >= (index - hole) & mask {
        self.slots[hole] = self.slots[index]
        hole = index
      }
      index = (index + 1) & mask
    }
    self.slots[hole] = Slot(key: Self.emptyKey, value: nil)
    self.count -= 1
    return removed
  }

  @discardableResult
  mutating func removeValue(forKey key: Int32) -> Value? {
    self.removeValue(forKey: Int(key))
  }

  private mutating func grow() {
    let old = self.slots
    self.slots = Array(repeating: Slot(key: Self.emptyKey, value: nil), count: old.count * 2)
    self.shift -= 1
    self.count = 0
    for slot in old where slot.key != Self.emptyKey {
      let (index, _) = self.find(slot.key)
      self.slots[index] = slot
      self.count += 1
    }
  }
}
