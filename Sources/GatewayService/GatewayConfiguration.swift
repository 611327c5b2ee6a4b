public import ServiceKit

/// The gateway's configuration, from a small line-oriented file (see docs/gateway.md):
///
/// ```
/// # service (or package.*) and its replicas
/// route identity.v1.* 127.0.0.1:50051 127.0.0.1:50061
/// route catalog.v1.* 127.0.0.1:50052
/// # tokens: verified with identity's published keys (or `auth keys kid=…`, or `auth off`)
/// auth identity 127.0.0.1:50051
/// public /identity.v1.Sessions/Login
/// # retry these too, beyond the methods the protos mark idempotent
/// retry /grpc.testing.TestService/UnaryCall
/// rate-limit tenant 200 400      # tokens per second, burst
/// rate-limit client 100 200
/// max-pending 1000               # per replica, then UNAVAILABLE at once
/// health-interval-ms 1000
/// ```
public struct GatewayConfiguration: Sendable, Hashable {
  public enum Authentication: Sendable, Hashable {
    /// Verify tokens with the keys the identity service at this address publishes.
    case identity(ListenAddress)
    /// Verify tokens with these keys (`kid=base64url,…`).
    case keys(String)
    /// No authentication at the edge (backends still verify).
    case off
  }

  public struct RateLimit: Sendable, Hashable {
    public var perSecond: Double
    public var burst: Double

    /// One call per 1 000 s: anything slower is a typo, and would make the retry hint huge.
    public static let minimumPerSecond = 0.001
    /// The largest rate and burst accepted (also rules out `inf`).
    public static let maximum = 1e9
  }

  /// Replica addresses by service name or `package.*` pattern, in file order.
  public var routes: [(pattern: String, replicas: [ListenAddress])] = []
  public var authentication: Authentication = .off
  /// Methods that pass without a token, besides health and reflection.
  public var publicMethods: Set<String> = []
  /// Methods retried although their protos do not mark them idempotent.
  public var retryMethods: Set<String> = []
  public var tenantRateLimit: RateLimit?
  public var clientRateLimit: RateLimit?
  public var maxPendingPerReplica = 1000
  public var healthInterval: Duration = .seconds(1)
  /// Extra attempts allowed as a share of calls, on top of ``minimumRetriesPerSecond``.
  public var retryBudgetRatio = 0.2
  public var minimumRetriesPerSecond = 10.0

  public init() {}

  public static func == (lhs: GatewayConfiguration, rhs: GatewayConfiguration) -> Bool {
    lhs.routes.map(\.pattern) == rhs.routes.map(\.pattern) && lhs.routes.map(\.replicas) == rhs.routes.map(\.replicas)
      && lhs.authentication == rhs.authentication && lhs.publicMethods == rhs.publicMethods
      && lhs.retryMethods == rhs.retryMethods && lhs.tenantRateLimit == rhs.tenantRateLimit
      && lhs.clientRateLimit == rhs.clientRateLimit && lhs.maxPendingPerReplica == rhs.maxPendingPerReplica
      && lhs.healthInterval == rhs.healthInterval
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(self.routes.map(\.pattern))
  }

  /// A line (or environment variable) that could not be understood.
  public struct ParseError: Error, CustomStringConvertible {
    /// The file's line, 1-based; 0 for the configuration as a whole or an environment variable.
    public let line: Int
    /// The environment variable the setting came from, if it did not come from the file.
    public let variable: String?
    public let reason: String

    init(line: Int, variable: String? = nil, reason: String) {
      self.line = line
      self.variable = variable
      self.reason = reason
    }

    public var description: String {
      if let variable { return "gateway configuration \(variable): \(self.reason)" }
      return "gateway configuration line \(self.line): \(self.reason)"
    }
  }

  /// The file keywords, each also settable through `GATEWAY_<KEYWORD>` (upper case, `-` as
  /// `_`: `GATEWAY_ROUTE`, `GATEWAY_RATE_LIMIT`, `GATEWAY_HEALTH_INTERVAL_MS`, …).
  public static let keywords = ["route", "auth", "public", "retry", "rate-limit", "max-pending", "health-interval-ms"]

  /// The environment variable for a file keyword.
  public static func variable(for keyword: String) -> String {
    "GATEWAY_" + String(keyword.uppercased().map { $0 == "-" ? "_" : $0 })
  }

  /// Parses the file's text, then the settings of `environment`: `GATEWAY_<KEYWORD>` holds one
  /// or more of that keyword's lines without the keyword, separated by `;` (for example
  /// `GATEWAY_ROUTE="identity.v1.* 10.0.0.1:50051 10.0.0.2:50051; catalog.v1.* 10.0.0.3:50052"`).
  /// The environment wins: its routes are matched before the file's, and its single-valued
  /// settings replace the file's. `text` may be empty when the environment gives the routes.
  ///
  /// - Parameter knownMethods: method paths (`/package.Service/Method`) by service name; when
  ///   given, a `route` matching none of the services, and a `public` or `retry` path naming no
  ///   method, is refused with its line, instead of leaving those calls UNIMPLEMENTED.
  public init(parsing text: String, environment: [String: String] = [:], knownMethods: [String: [String]]? = nil)
    throws
  {
    let known = knownMethods.map(Known.init)
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let content = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
      let words = Self.words(content)
      guard let keyword = words.first else { continue }
      do {
        try self.apply(keyword, Array(words.dropFirst()), known: known)
      } catch let reason as Reason {
        throw ParseError(line: index + 1, reason: reason.text)
      }
    }
    let fileRoutes = self.routes
    self.routes = []
    for keyword in Self.keywords {
      let variable = Self.variable(for: keyword)
      guard let value = environment[variable] else { continue }
      for entry in value.split(separator: ";") {
        let words = Self.words(entry)
        guard !words.isEmpty else { continue }
        do {
          try self.apply(keyword, words, known: known)
        } catch let reason as Reason {
          throw ParseError(line: 0, variable: variable, reason: reason.text)
        }
      }
    }
    // Routes are matched in order: the environment's first.
    self.routes += fileRoutes
    guard !self.routes.isEmpty else {
      throw ParseError(line: 0, reason: "no route lines (and no \(Self.variable(for: "route")))")
    }
  }

  /// Why a line was refused (its position is added by the caller).
  private struct Reason: Error {
    let text: String
  }

  private static func words(_ text: Substring) -> [String] {
    text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
  }

  /// The services and methods a configuration may name.
  private struct Known {
    let services: [String]
    let methods: Set<String>

    init(_ methodsByService: [String: [String]]) {
      self.services = methodsByService.keys.sorted()
      self.methods = Set(methodsByService.values.joined())
    }
  }

  /// Whether route `pattern` (a service, or `package.*`) names `service`.
  private static func pattern(_ pattern: String, matches service: String) -> Bool {
    pattern == service || (pattern.hasSuffix(".*") && service.hasPrefix(pattern.dropLast()))
  }

  /// Applies one line: `keyword` and its arguments.
  private mutating func apply(_ keyword: String, _ arguments: [String], known: Known?) throws {
    func fail(_ reason: String) -> Reason { Reason(text: reason) }
    switch keyword {
    case "route":
      guard arguments.count >= 2 else { throw fail("route needs a service and at least one HOST:PORT") }
      if let known, !known.services.contains(where: { Self.pattern(arguments[0], matches: $0) }) {
        throw fail("'\(arguments[0])' names no service this gateway knows (\(known.services.joined(separator: ", ")))")
      }
      var replicas: [ListenAddress] = []
      for text in arguments.dropFirst() {
        guard let address = ListenAddress(parsing: text), address.port > 0 else {
          throw fail("'\(text)' is not HOST:PORT")
        }
        replicas.append(address)
      }
      self.routes.append((arguments[0], replicas))
    case "auth":
      switch (arguments.first, arguments.count) {
      case ("identity"?, 2):
        guard let address = ListenAddress(parsing: arguments[1]), address.port > 0 else {
          throw fail("'\(arguments[1])' is not HOST:PORT")
        }
        self.authentication = .identity(address)
      case ("keys"?, 2): self.authentication = .keys(arguments[1])
      case ("off"?, 1): self.authentication = .off
      default: throw fail("auth is `identity HOST:PORT`, `keys kid=base64url,…` or `off`")
      }
    case "public", "retry":
      guard !arguments.isEmpty, arguments.allSatisfy({ $0.hasPrefix("/") && $0.dropFirst().contains("/") }) else {
        throw fail("\(keyword) takes method paths such as /package.Service/Method")
      }
      if let known, let unknown = arguments.first(where: { !known.methods.contains($0) }) {
        throw fail("'\(unknown)' names no method this gateway knows")
      }
      if keyword == "public" { self.publicMethods.formUnion(arguments) } else { self.retryMethods.formUnion(arguments) }
    case "rate-limit":
      // Bounded, so that the retry hint (the wait for the next token) stays a sane number.
      guard arguments.count == 3, let rate = Double(arguments[1]), let burst = Double(arguments[2]),
        rate >= RateLimit.minimumPerSecond, rate <= RateLimit.maximum, burst >= 1, burst <= RateLimit.maximum
      else {
        throw fail(
          "rate-limit is `tenant|client PER_SECOND BURST`: PER_SECOND from \(RateLimit.minimumPerSecond), BURST from 1, both at most \(Int(RateLimit.maximum))")
      }
      switch arguments[0] {
      case "tenant": self.tenantRateLimit = RateLimit(perSecond: rate, burst: burst)
      case "client": self.clientRateLimit = RateLimit(perSecond: rate, burst: burst)
      default: throw fail("rate-limit applies to `tenant` or `client`")
      }
    case "max-pending":
      guard arguments.count == 1, let value = Int(arguments[0]), value > 0 else { throw fail("max-pending takes a positive number") }
      self.maxPendingPerReplica = value
    case "health-interval-ms":
      guard arguments.count == 1, let value = Int64(arguments[0]), value >= 50 else {
        throw fail("health-interval-ms takes a number ≥ 50")
      }
      self.healthInterval = .milliseconds(value)
    default:
      throw fail("unknown keyword '\(keyword)'")
    }
  }

  /// The replicas of `service`: the first route whose pattern names it or its package (`pkg.*`).
  public func replicas(for service: String) -> [ListenAddress]? {
    for route in self.routes {
      if Self.pattern(route.pattern, matches: service) { return route.replicas }
    }
    return nil
  }
}
