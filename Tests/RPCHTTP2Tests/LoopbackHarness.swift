import InteropService
import GRPCTestingProtos
import RPCCore
import RPCHTTP2
import ServiceKit

/// The server of the innermost ``withLoopbackServer(services:interceptors:configuration:clientConfiguration:clientInterceptors:_:)``
/// the current task runs in, for tests that look inside it.
enum Loopback {
  @TaskLocal static var server: GRPCServer?
}

/// Runs `body` with a real server on a free loopback port and a client connected to it.
func withLoopbackServer<Result: Sendable>(
  services: [any RegistrableRPCService] = [TestService(), HealthService()],
  interceptors: [any ServerInterceptor] = [],
  configuration: GRPCServer.Configuration = GRPCServer.Configuration(threads: 2),
  clientConfiguration: HTTP2ClientTransport.Configuration = .init(),
  clientInterceptors: [any ClientInterceptor] = [],
  _ body: (RPCClient) async throws -> Result
) async throws -> Result {
  let server = GRPCServer(configuration: configuration, services: services, interceptors: interceptors)
  let address = try await server.start()
  let transport = HTTP2ClientTransport(
    host: "127.0.0.1", port: address.port!, configuration: clientConfiguration)
  let client = RPCClient(transport: transport, interceptors: clientInterceptors)
  do {
    let result = try await Loopback.$server.withValue(server) { try await body(client) }
    await transport.close()
    await server.shutDown()
    return result
  } catch {
    await transport.close()
    await server.shutDown()
    throw error
  }
}

func payload(_ size: Int) -> Grpc_Testing_Payload {
  var payload = Grpc_Testing_Payload()
  payload.body = [UInt8](repeating: 7, count: size)
  return payload
}

func simpleRequest(responseSize: Int32, status: (Int32, String)? = nil) -> Grpc_Testing_SimpleRequest {
  var request = Grpc_Testing_SimpleRequest()
  request.responseSize = responseSize
  if let status {
    var echo = Grpc_Testing_EchoStatus()
    echo.code = status.0
    echo.message = status.1
    request.responseStatus = echo
  }
  return request
}
