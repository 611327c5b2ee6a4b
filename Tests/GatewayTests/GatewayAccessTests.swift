import Auth
import Foundation
import RPCCore
import Testing

@testable import GatewayService

/// The gateway's public methods come from the protos' `(suite.v1.access)` options.
@Suite("Gateway access")
struct GatewayAccessTests {
  /// The `:path` of every rpc under proto/ whose options say `public: true`, read from the
  /// proto sources themselves (not from the generated code the gateway uses).
  static func publicPathsDeclaredInProtos() throws -> Set<String> {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("proto")
    let files = try #require(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }
      .filter { $0.hasSuffix(".proto") }
    var paths: Set<String> = []
    for file in files {
      let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
      var package = ""
      var service = ""
      var method = ""
      for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
        if line.hasPrefix("package ") {
          package = String(line.dropFirst("package ".count).dropLast())
        } else if line.hasPrefix("service ") {
          service = String(line.dropFirst("service ".count).prefix { $0 != " " && $0 != "{" })
        } else if line.hasPrefix("rpc ") {
          method = String(line.dropFirst("rpc ".count).prefix { $0 != "(" && $0 != " " })
        } else if line.hasPrefix("option (suite.v1.access)"), line.replacingOccurrences(of: " ", with: "").contains("public:true") {
          paths.insert("/\(package).\(service)/\(method)")
        }
      }
    }
    return paths
  }

  @Test("the gateway's public methods are exactly those the protos declare public")
  func publicMethodsAreTheDeclaredOnes() throws {
    let declared = try Self.publicPathsDeclaredInProtos()
    #expect(declared.contains("/identity.v1.Sessions/Login"))
    #expect(declared.contains("/identity.v1.ApiKeys/ExchangeApiKey"))
    let rules = Gateway.accessRules(configuration: GatewayConfiguration())
    #expect(rules.publicPaths == declared)
    // Everything else needs a token, of any role (the services behind check roles).
    #expect(rules.access(MethodDescriptor(path: "/catalog.v1.Products/CreateProduct")!) == .role(.viewer))
    #expect(rules.access(MethodDescriptor(path: "/some.v1.Unknown/Call")!) == .role(.viewer))
    #expect(rules.access(MethodDescriptor(path: "/grpc.health.v1.Health/Check")!) == .public)
  }

  @Test("`public` lines of the configuration add to the declared public methods")
  func configuredPublicMethodsAreAdded() throws {
    var configuration = GatewayConfiguration()
    configuration.publicMethods = ["/grpc.testing.TestService/EmptyCall"]
    let rules = Gateway.accessRules(configuration: configuration)
    #expect(rules.publicPaths == (try Self.publicPathsDeclaredInProtos()).union(["/grpc.testing.TestService/EmptyCall"]))
  }
}
