import RPCCore
import ServiceKit
import Testing

@testable import GatewayService

/// Interceptors put what they learn on the server context they hand to the next stage.
@Suite("Values on the server context")
struct ServerContextValuesTests {
  let context = ServerContext(
    descriptor: MethodDescriptor(service: "test.v1.Probe", method: "Call"), remotePeer: "ipv4:127.0.0.1:5000",
    localPeer: "ipv4:127.0.0.1:50051")

  @Test func theClientAddressInterceptorSetsTheClientAddressOnTheContext() async throws {
    var metadata = Metadata()
    metadata.add("x-forwarded-for", "10.0.0.7, 10.0.0.9")
    let throughProxy = try await ClientAddressInterceptor(trustedProxies: ["127.0.0.1"]).intercept(
      metadata: metadata, context: self.context
    ) { _, context in context.clientAddress }
    #expect(throughProxy == "10.0.0.9")
    let direct = try await ClientAddressInterceptor(trustedProxies: []).intercept(
      metadata: metadata, context: self.context
    ) { _, context in context.clientAddress }
    #expect(direct == "127.0.0.1")
    #expect(self.context.clientAddress == nil)
  }

  @Test func theRequestIdentityInterceptorSetsTheRequestIDOnTheContext() async throws {
    var metadata = Metadata()
    metadata.add("x-request-id", "abc-123")
    let (kept, forwarded) = try await RequestIdentityInterceptor().intercept(metadata: metadata, context: self.context) {
      metadata, context in (context.requestID, metadata.firstString("x-request-id"))
    }
    #expect(kept == "abc-123" && forwarded == "abc-123")
    let made = try await RequestIdentityInterceptor().intercept(metadata: Metadata(), context: self.context) {
      _, context in context.requestID
    }
    #expect(made?.utf8.count == 32)
  }
}
