internal import CSodium

/// libsodium must be initialised once before use; `sodium_init` is idempotent and thread-safe.
enum Sodium {
  static let ready: Bool = {
    let result = sodium_init()
    precondition(result >= 0, "libsodium failed to initialise")
    return true
  }()

  @inline(__always)
  static func ensureReady() {
    _ = ready
  }
}
