/// Writes a service's descriptors, handler protocols and typed client.
struct ServiceEmitter {
  let set: DescriptorSet

  private struct Method {
    var info: MethodInfo
    /// `emptyCall`.
    var swiftName: String
    var input: String
    var output: String

    var kind: String {
      switch (self.info.clientStreaming, self.info.serverStreaming) {
      case (false, false): "unary"
      case (true, false): "clientStreaming"
      case (false, true): "serverStreaming"
      case (true, true): "bidirectionalStreaming"
      }
    }
  }

  /// Writes `service`; when `requiresAccess`, every method must declare `(suite.v1.access)`.
  func emit(_ service: ServiceInfo, package: String, requiresAccess: Bool, into w: inout CodeWriter) throws {
    if requiresAccess, let method = service.methods.first(where: { $0.access == nil }) {
      throw GeneratorError(
        "\(service.fullName).\(method.name) declares no access rule: add "
          + "`option (suite.v1.access) = { role: VIEWER };` (or EDITOR, ADMIN, or `{ public: true }`) "
          + "to the rpc (proto/suite/v1/access.proto).")
    }
    let namespace = Names.packagePrefix(package) + service.name
    let methods = try service.methods.map { method in
      Method(
        info: method,
        swiftName: Names.escaped(Names.lowerCamel(method.name)),
        input: Names.swiftName(of: try self.set.message(method.inputType)),
        output: Names.swiftName(of: try self.set.message(method.outputType)))
    }
    let fullName = service.fullName.swiftLiteral

    w.line()
    w.doc(service.comment, fallback: "The `\(service.fullName)` service.")
    try w.block("public enum \(namespace)") { w in
      w.line("/// The service's fully qualified name.")
      w.line("public static let descriptor = ServiceDescriptor(fullyQualifiedName: \(fullName))")
      w.line()
      w.line("/// Each method's message types, descriptor and kind.")
      w.block("public enum Method") { w in
        for method in methods {
          w.doc(method.info.comment)
          w.block("public enum \(Names.escaped(method.info.name))") { w in
            w.line("public typealias Input = \(method.input)")
            w.line("public typealias Output = \(method.output)")
            if let access = method.info.access {
              w.line(
                "public static let descriptor = MethodDescriptor(service: \(fullName), method: \(method.info.name.swiftLiteral), access: \(access.swiftExpression))"
              )
            } else {
              w.line(
                "public static let descriptor = MethodDescriptor(service: \(fullName), method: \(method.info.name.swiftLiteral))"
              )
            }
            w.line("public static let kind: RPCKind = .\(method.kind)")
          }
          w.line()
        }
        w.line("/// Every method of the service, in declaration order.")
        w.line("public static let descriptors: [MethodDescriptor] = [")
        for method in methods {
          w.line("  \(namespace).Method.\(Names.escaped(method.info.name)).descriptor,")
        }
        w.line("]")
      }

      // Full handler protocol.
      w.line()
      w.line("/// Handles `\(service.fullName)` with request and response objects that carry metadata.")
      w.line("///")
      w.line("/// Conforming types get `registerMethods(with:)` for free.")
      w.block("public protocol ServiceProtocol: RegistrableRPCService") { w in
        for (index, method) in methods.enumerated() {
          if index > 0 { w.line() }
          w.doc(method.info.comment, fallback: "Handles `\(method.info.name)`.")
          w.line(self.fullRequirement(method))
        }
      }

      // Messages-only handler protocol.
      w.line()
      w.line("/// Handles `\(service.fullName)` with messages only; default implementations bridge")
      w.line("/// it to ``ServiceProtocol`` (metadata is dropped on the way in and sent empty).")
      w.block("public protocol SimpleServiceProtocol: ServiceProtocol") { w in
        for (index, method) in methods.enumerated() {
          if index > 0 { w.line() }
          w.doc(method.info.comment, fallback: "Handles `\(method.info.name)`.")
          w.line(self.simpleRequirement(method))
        }
      }

      // Client.
      w.line()
      w.line("/// A typed client for `\(service.fullName)`.")
      try w.block("public struct Client: Sendable") { w in
        w.line("/// The client calls go through.")
        w.line("public let client: RPCClient")
        w.line()
        w.line("/// Makes calls through `client`.")
        w.line("public init(wrapping client: RPCClient) {")
        w.line("  self.client = client")
        w.line("}")
        for method in methods {
          w.line()
          try self.emitClientMethods(method, namespace: namespace, into: &w)
        }
      }
    }

    // Registration.
    w.line()
    let filesEnum = try ProtoModule(package: package).filesEnum
    w.block("extension \(namespace).ServiceProtocol") { w in
      w.line("/// The proto files declaring `\(service.fullName)`, dependencies included (for reflection).")
      w.line("public var protoFiles: [(name: String, serialized: [UInt8])] { \(filesEnum).all }")
      w.line()
      w.line("/// Registers every method of `\(service.fullName)` with `router`.")
      w.block("public func registerMethods(with router: inout RPCRouter)") { w in
        for method in methods {
          let register =
            switch method.kind {
            case "unary": "registerUnary"
            case "clientStreaming": "registerClientStreaming"
            case "serverStreaming": "registerServerStreaming"
            default: "registerBidirectionalStreaming"
            }
          w.line("router.\(register)(")
          w.line("  \(namespace).Method.\(Names.escaped(method.info.name)).descriptor,")
          w.line("  input: \(method.input).self,")
          w.line("  output: \(method.output).self")
          w.line(") { request, context in")
          w.line("  try await self.\(method.swiftName)(request: request, context: context)")
          w.line("}")
        }
      }
    }

    // Bridging.
    w.line()
    w.block("extension \(namespace).SimpleServiceProtocol") { w in
      for (index, method) in methods.enumerated() {
        if index > 0 { w.line() }
        w.line("/// Calls the messages-only `\(method.swiftName)`.")
        w.block("public " + self.fullSignature(method)) { w in
          switch method.kind {
          case "unary":
            w.line("let response = try await self.\(method.swiftName)(request: request.message, context: context)")
            w.line("return ServerResponse(message: response)")
          case "clientStreaming":
            w.line("let response = try await self.\(method.swiftName)(request: request.messages, context: context)")
            w.line("return ServerResponse(message: response)")
          case "serverStreaming":
            w.line("let message = request.message")
            w.line("return StreamingServerResponse { writer in")
            w.line("  try await self.\(method.swiftName)(request: message, response: writer, context: context)")
            w.line("  return [:]")
            w.line("}")
          default:
            w.line("let messages = request.messages")
            w.line("return StreamingServerResponse { writer in")
            w.line("  try await self.\(method.swiftName)(request: messages, response: writer, context: context)")
            w.line("  return [:]")
            w.line("}")
          }
        }
      }
    }
  }

  private func fullSignature(_ method: Method) -> String {
    let request = method.info.clientStreaming ? "StreamingServerRequest" : "ServerRequest"
    let response = method.info.serverStreaming ? "StreamingServerResponse" : "ServerResponse"
    return
      "func \(method.swiftName)(request: \(request)<\(method.input)>, context: ServerContext) async throws -> \(response)<\(method.output)>"
  }

  private func fullRequirement(_ method: Method) -> String {
    self.fullSignature(method)
  }

  private func simpleRequirement(_ method: Method) -> String {
    let name = method.swiftName
    switch method.kind {
    case "unary":
      return
        "func \(name)(request: \(method.input), context: ServerContext) async throws -> \(method.output)"
    case "clientStreaming":
      return
        "func \(name)(request: RPCAsyncSequence<\(method.input)>, context: ServerContext) async throws -> \(method.output)"
    case "serverStreaming":
      return
        "func \(name)(request: \(method.input), response: RPCWriter<\(method.output)>, context: ServerContext) async throws"
    default:
      return
        "func \(name)(request: RPCAsyncSequence<\(method.input)>, response: RPCWriter<\(method.output)>, context: ServerContext) async throws"
    }
  }

  private func emitClientMethods(_ method: Method, namespace: String, into w: inout CodeWriter) throws {
    let descriptor = "\(namespace).Method.\(Names.escaped(method.info.name)).descriptor"
    let name = method.swiftName
    switch method.kind {
    case "unary":
      w.doc(method.info.comment, fallback: "Calls `\(method.info.name)`.")
      w.line("///")
      w.line("/// - Returns: the response message.")
      w.line("/// - Throws: `RPCError` when the call fails.")
      w.block(
        "public func \(name)(_ message: \(method.input), metadata: Metadata = [:], options: CallOptions = .defaults) async throws -> \(method.output)"
      ) { w in
        w.line("let request = ClientRequest(message: message, metadata: metadata)")
        w.line("return try await self.\(name)(request: request, options: options).message")
      }
      w.line()
      w.doc(method.info.comment, fallback: "Calls `\(method.info.name)`.")
      w.line("///")
      w.line("/// - Returns: the response message with its initial and trailing metadata.")
      w.line("/// - Throws: `RPCError` when the call fails.")
      w.block(
        "public func \(name)(request: ClientRequest<\(method.input)>, options: CallOptions = .defaults) async throws -> ClientResponse<\(method.output)>"
      ) { w in
        w.line("try await self.client.unary(request: request, descriptor: \(descriptor), options: options)")
      }
    case "clientStreaming":
      w.doc(method.info.comment, fallback: "Calls `\(method.info.name)`.")
      w.line("///")
      w.line("/// - Returns: the response message with its initial and trailing metadata.")
      w.line("/// - Throws: `RPCError` when the call fails.")
      w.block(
        "public func \(name)(request: StreamingClientRequest<\(method.input)>, options: CallOptions = .defaults) async throws -> ClientResponse<\(method.output)>"
      ) { w in
        w.line(
          "try await self.client.clientStreaming(request: request, descriptor: \(descriptor), options: options)")
      }
    case "serverStreaming", "bidirectionalStreaming":
      let request = method.kind == "serverStreaming" ? "ClientRequest" : "StreamingClientRequest"
      let call = method.kind == "serverStreaming" ? "serverStreaming" : "bidirectionalStreaming"
      w.doc(method.info.comment, fallback: "Calls `\(method.info.name)`.")
      w.line("///")
      w.line("/// - Parameter onResponse: consumes the responses; its result is the call's result.")
      w.line("/// - Throws: `RPCError` when the call fails.")
      w.line("public func \(name)<Result: Sendable>(")
      w.line("  request: \(request)<\(method.input)>,")
      w.line("  options: CallOptions = .defaults,")
      w.line("  onResponse: @Sendable (StreamingClientResponse<\(method.output)>) async throws -> Result")
      w.line(") async throws -> Result {")
      w.line("  try await self.client.\(call)(")
      w.line("    request: request, descriptor: \(descriptor), options: options, onResponse: onResponse)")
      w.line("}")
    default:
      break
    }
  }
}
