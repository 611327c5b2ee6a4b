import CatalogV1Protos
import Foundation
import GRPCHealthV1Protos
import GRPCReflectionV1Protos
import GRPCReflectionV1alphaProtos
import GRPCTestingProtos
import GatewayV1Protos
import GoogleProtobufProtos
import IdentityV1Protos
import RPCCore
import SuiteV1Protos
import Synchronization
import TestV1Protos
import Testing

/// A server stream that hands out queued requests and records what the handler sends.
final class RecordingServerStream: ServerCallStream {
  private struct State {
    var requests: [[UInt8]]
    var sent: [[UInt8]] = []
    var status: Status?
  }

  private let state: Mutex<State>

  init(requests: [[UInt8]]) {
    self.state = Mutex(State(requests: requests))
  }

  var sent: [[UInt8]] { self.state.withLock { $0.sent } }
  var status: Status? { self.state.withLock { $0.status } }

  func receive<Message: RPCMessage>(_ type: Message.Type) async throws -> Message? {
    let next: [UInt8]? = self.state.withLock { state in
      state.requests.isEmpty ? nil : state.requests.removeFirst()
    }
    guard let next else { return nil }
    return try Message(serializedBytes: next)
  }

  func sendMetadata(_ metadata: Metadata) async throws {}

  func send<Message: RPCMessage>(_ message: Message) async throws {
    let bytes = try message.serializedBytes()
    self.state.withLock { $0.sent.append(bytes) }
  }

  func finish(status: Status, trailers: Metadata) {
    self.state.withLock { state in
      if state.status == nil { state.status = status }
    }
  }
}

/// A messages-only health service: `Check` answers SERVING, `Watch` streams two statuses.
struct FixedHealth: Grpc_Health_V1_Health.SimpleServiceProtocol {
  func check(
    request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthCheckResponse {
    guard request.service.isEmpty else {
      throw RPCError(code: .notFound, message: "unknown service")
    }
    var response = Grpc_Health_V1_HealthCheckResponse()
    response.status = .serving
    return response
  }

  func list(
    request: Grpc_Health_V1_HealthListRequest, context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthListResponse {
    Grpc_Health_V1_HealthListResponse()
  }

  func watch(
    request: Grpc_Health_V1_HealthCheckRequest,
    response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
    context: ServerContext
  ) async throws {
    var message = Grpc_Health_V1_HealthCheckResponse()
    message.status = .serviceUnknown
    try await response.write(message)
    message.status = .serving
    try await response.write(message)
  }
}

@Suite("Generated service descriptors, protocols and registration")
struct ServiceTests {
  @Test("method descriptors carry the gRPC paths and kinds")
  func descriptors() {
    #expect(Grpc_Testing_TestService.descriptor.fullyQualifiedName == "grpc.testing.TestService")
    #expect(Grpc_Testing_TestService.Method.EmptyCall.descriptor.path == "/grpc.testing.TestService/EmptyCall")
    #expect(Grpc_Testing_TestService.Method.UnaryCall.kind == .unary)
    #expect(Grpc_Testing_TestService.Method.StreamingOutputCall.kind == .serverStreaming)
    #expect(Grpc_Testing_TestService.Method.StreamingInputCall.kind == .clientStreaming)
    #expect(Grpc_Testing_TestService.Method.FullDuplexCall.kind == .bidirectionalStreaming)
    #expect(Grpc_Testing_TestService.Method.HalfDuplexCall.kind == .bidirectionalStreaming)
    #expect(
      Grpc_Testing_TestService.Method.descriptors.map(\.method) == [
        "EmptyCall", "UnaryCall", "CacheableUnaryCall", "StreamingOutputCall", "StreamingInputCall",
        "FullDuplexCall", "HalfDuplexCall", "UnimplementedCall",
      ])
    #expect(Grpc_Testing_UnimplementedService.Method.UnimplementedCall.descriptor.path == "/grpc.testing.UnimplementedService/UnimplementedCall")
    #expect(Grpc_Health_V1_Health.Method.descriptors.map(\.path) == [
      "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/List", "/grpc.health.v1.Health/Watch",
    ])
    #expect(Grpc_Health_V1_Health.Method.Watch.kind == .serverStreaming)
  }

  @Test("registering a service adds every method with its kind")
  func registration() {
    var router = RPCRouter()
    router.register(FixedHealth())
    #expect(router.hasService("grpc.health.v1.Health"))
    #expect(router.method(forPath: "/grpc.health.v1.Health/Check")?.kind == .unary)
    #expect(router.method(forPath: "/grpc.health.v1.Health/List")?.kind == .unary)
    #expect(router.method(forPath: "/grpc.health.v1.Health/Watch")?.kind == .serverStreaming)
    #expect(router.descriptors.count == 3)
  }

  private func run(_ path: String, requests: [[UInt8]]) async throws -> RecordingServerStream {
    var router = RPCRouter()
    router.register(FixedHealth())
    let method = try #require(router.method(forPath: path))
    let stream = RecordingServerStream(requests: requests)
    let context = ServerContext(
      descriptor: method.descriptor, remotePeer: "test", localPeer: "test")
    await method.run(stream: stream, metadata: [:], context: context, interceptors: [])
    return stream
  }

  @Test("a messages-only unary handler answers through the generated bridge")
  func unaryBridge() async throws {
    let stream = try await self.run(
      "/grpc.health.v1.Health/Check",
      requests: [try Grpc_Health_V1_HealthCheckRequest().serializedBytes()])
    #expect(stream.status == .ok)
    let responses = try stream.sent.map { try Grpc_Health_V1_HealthCheckResponse(serializedBytes: $0) }
    #expect(responses.map(\.status) == [.serving])
  }

  @Test("a thrown RPCError reaches the status")
  func unaryError() async throws {
    var request = Grpc_Health_V1_HealthCheckRequest()
    request.service = "missing"
    let stream = try await self.run(
      "/grpc.health.v1.Health/Check", requests: [try request.serializedBytes()])
    #expect(stream.status == Status(code: RPCError.Code.notFound.rawValue, message: "unknown service"))
    #expect(stream.sent.isEmpty)
  }

  @Test("a messages-only server-streaming handler writes every response")
  func serverStreamingBridge() async throws {
    let stream = try await self.run(
      "/grpc.health.v1.Health/Watch",
      requests: [try Grpc_Health_V1_HealthCheckRequest().serializedBytes()])
    #expect(stream.status == .ok)
    let responses = try stream.sent.map { try Grpc_Health_V1_HealthCheckResponse(serializedBytes: $0) }
    #expect(responses.map(\.status) == [.serviceUnknown, .serving])
  }

  @Test("undecodable request bytes end the call with INTERNAL")
  func undecodableRequest() async throws {
    let stream = try await self.run("/grpc.health.v1.Health/Check", requests: [[0xFF, 0xFF]])
    #expect(stream.status?.code == RPCError.Code.internal.rawValue)
  }
}

@Suite("Embedded file descriptors")
struct FileDescriptorTests {
  /// Each proto module's files, as its `<Stem>ProtoFiles` enum lists them.
  static let modules: [[(name: String, serialized: [UInt8])]] = [
    CatalogV1ProtoFiles.all, GatewayV1ProtoFiles.all, GRPCHealthV1ProtoFiles.all, GRPCReflectionV1ProtoFiles.all,
    GRPCReflectionV1alphaProtoFiles.all, GRPCTestingProtoFiles.all, IdentityV1ProtoFiles.all, TestV1ProtoFiles.all,
    SuiteV1ProtoFiles.all, GoogleProtobufProtoFiles.all,
  ]

  @Test("every proto file is embedded, dependencies first")
  func order() throws {
    let all = Self.modules.flatMap { $0 }
    let names = all.map(\.name)
    // Exactly the files under proto/.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("proto")
    let onDisk = try #require(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }
      .filter { $0.hasSuffix(".proto") }
    // descriptor.proto comes with them: suite/v1/access.proto imports it (for reflection clients).
    #expect(Set(names) == Set(onDisk).union(["google/protobuf/descriptor.proto"]))
    #expect(Set(names).isSuperset(of: [
      "grpc/health/v1/health.proto", "grpc/testing/test.proto", "grpc/reflection/v1/reflection.proto",
      "identity/v1/identity.proto", "catalog/v1/catalog.proto", "gateway/v1/overview.proto",
    ]))
    // Within each module (the list reflection gets), every dependency comes first.
    for module in Self.modules {
      let names = module.map(\.name)
      for (index, file) in module.enumerated() {
        for dependency in Self.dependencies(of: file.serialized) {
          let position = try #require(names.firstIndex(of: dependency), "\(file.name) needs \(dependency)")
          #expect(position < index)
        }
      }
    }
    let testing = GRPCTestingProtoFiles.all.map(\.name)
    #expect(testing.firstIndex(of: "grpc/testing/messages.proto")! < testing.firstIndex(of: "grpc/testing/test.proto")!)
    #expect(testing.firstIndex(of: "grpc/testing/empty.proto")! < testing.firstIndex(of: "grpc/testing/test.proto")!)
    let coverage = TestV1ProtoFiles.all.map(\.name)
    #expect(coverage.firstIndex(of: "grpc/testing/messages.proto")! < coverage.firstIndex(of: "test/v1/coverage.proto")!)
  }

  /// The `dependency` fields (3) of a serialized `FileDescriptorProto`.
  static func dependencies(of bytes: [UInt8]) -> [String] {
    var result: [String] = []
    var index = 0
    func varint() -> Int {
      var value = 0
      var shift = 0
      while index < bytes.count {
        let byte = bytes[index]
        index += 1
        value |= Int(byte & 0x7F) << shift
        if byte < 0x80 { break }
        shift += 7
      }
      return value
    }
    while index < bytes.count {
      let key = varint()
      switch key & 7 {
      case 0: _ = varint()
      case 1: index += 8
      case 2:
        let length = varint()
        if key >> 3 == 3 { result.append(String(decoding: bytes[index..<index + length], as: UTF8.self)) }
        index += length
      case 5: index += 4
      default: return result
      }
    }
    return result
  }

  @Test("each descriptor starts with its file name (FileDescriptorProto field 1)")
  func serializedNames() {
    for (name, serialized) in Self.modules.flatMap({ $0 }) {
      let utf8 = Array(name.utf8)
      #expect(Array(serialized.prefix(2 + utf8.count)) == [0x0A, UInt8(utf8.count)] + utf8)
    }
  }
}
