import Synchronization

/// What the access log says about one call, filled in as the call goes through the gateway.
final class CallRecord: Sendable {
  struct Fields {
    var tenant = ""
    var replica = ""
    var bytesIn = 0
    var bytesOut = 0
    var attempts = 0
    var requestID = ""
  }

  let fields = Mutex(Fields())

  @TaskLocal static var current: CallRecord?

  func update(_ body: (inout Fields) -> Void) {
    self.fields.withLock { body(&$0) }
  }
}
