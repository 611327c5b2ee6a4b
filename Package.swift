// swift-tools-version:6.0
import PackageDescription

/// Settings shared by every Swift target: Swift 6 language mode (the tools-version default),
/// explicit existentials, and imports that are internal unless they say otherwise.
let swiftSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The per-call path (gRPC core and transport, the gateway, the PostgreSQL layer): release
/// builds skip the *dynamic* exclusivity checks (about 6 % of the gateway's CPU per call,
/// BENCHMARKS.md). Static checks stay, and debug builds — every test run — keep the dynamic
/// ones, so a violation is still caught by the tests.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
  .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

/// The generated Swift of one proto package (scripts/gen-protos.sh): module `<stem>Protos` in
/// `Sources/Protos/<stem>`, depending on the modules of the packages its files import.
func protoModule(_ stem: String, imports: [String] = []) -> Target {
  .target(
    name: stem + "Protos",
    dependencies: ["CProtos", "ProtoRuntime", "RPCCore"] + imports.map { .target(name: $0 + "Protos") },
    path: "Sources/Protos/" + stem,
    swiftSettings: swiftSettings
  )
}

let package = Package(
  name: "grpc-suite",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "interop-server", targets: ["interop-server"]),
    .executable(name: "interop-client", targets: ["interop-client"]),
    .executable(name: "suite-db", targets: ["suite-db"]),
    .executable(name: "db-bench", targets: ["db-bench"]),
    .executable(name: "token-bench", targets: ["token-bench"]),
    .executable(name: "identity", targets: ["identity"]),
    .executable(name: "catalog", targets: ["catalog"]),
    .executable(name: "catalog-datagen", targets: ["catalog-datagen"]),
    .executable(name: "gateway", targets: ["gateway"]),
    .executable(name: "proto-swift-gen", targets: ["ProtoSwiftGen"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
  ],
  targets: [
    // MARK: C modules
    .systemLibrary(
      name: "CNGHTTP2",
      pkgConfig: "libnghttp2",
      providers: [.apt(["libnghttp2-dev"])]
    ),
    .systemLibrary(
      name: "CProtobufC",
      pkgConfig: "libprotobuf-c",
      providers: [.apt(["libprotobuf-c-dev"])]
    ),
    .systemLibrary(
      name: "CLibPQ",
      pkgConfig: "libpq",
      providers: [.apt(["libpq-dev"])]
    ),
    .systemLibrary(
      name: "CSodium",
      pkgConfig: "libsodium",
      providers: [.apt(["libsodium-dev"])]
    ),
    .systemLibrary(
      name: "CZlib",
      pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]
    ),
    /// protoc-c output for everything under proto/ (generated, committed).
    .target(name: "CProtos", dependencies: ["CProtobufC"]),
    /// protoc-c output for google/protobuf/descriptor.proto, used by the code generator only.
    .target(name: "CProtoDescriptor", dependencies: ["CProtobufC"]),

    // MARK: core
    .target(
      name: "RPCCore",
      swiftSettings: hotPathSettings
    ),
    .target(
      name: "RPCHTTP2",
      dependencies: [
        "RPCCore",
        "CNGHTTP2",
        "CZlib",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: hotPathSettings
    ),
    .target(
      name: "Postgres",
      dependencies: [
        "CLibPQ",
        .product(name: "Logging", package: "swift-log"),
      ],
      // Its async functions run on the caller's executor: no executor hop at every entry
      // (docs/postgres.md, "The per-statement path, kept lean").
      swiftSettings: hotPathSettings + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
    ),

    .target(
      name: "Migrations",
      dependencies: [
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    /// Database administration: bootstrap (database, schemas, least-privilege roles, secrets
    /// file), SQL-file migration sets, and the `suite-db` command's logic.
    .target(
      name: "SuiteDatabase",
      dependencies: [
        "Migrations",
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    /// The throwaway PostgreSQL cluster the database tests share (one per test process).
    .target(
      name: "PostgresTestSupport",
      dependencies: [
        "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/PostgresTestSupport",
      swiftSettings: swiftSettings
    ),

    // MARK: generated
    .target(
      name: "ProtoRuntime",
      dependencies: ["CProtobufC", "RPCCore"],
      swiftSettings: swiftSettings
    ),
    /// Descriptors only: `suite/v1/access.proto` (the access option) and the
    /// `descriptor.proto` it extends, for reflection of the files that import them.
    protoModule("GoogleProtobuf"),
    protoModule("SuiteV1", imports: ["GoogleProtobuf"]),
    protoModule("CatalogV1", imports: ["SuiteV1"]),
    protoModule("GatewayV1", imports: ["SuiteV1"]),
    protoModule("GRPCHealthV1"),
    protoModule("GRPCReflectionV1"),
    protoModule("GRPCReflectionV1alpha"),
    protoModule("IdentityV1", imports: ["SuiteV1"]),
    /// The interop and codec-coverage protos: linked by tests and the interop executables only.
    protoModule("GRPCTesting"),
    protoModule("TestV1", imports: ["GRPCTesting"]),
    .executableTarget(
      name: "ProtoSwiftGen",
      dependencies: ["CProtoDescriptor", "CProtobufC"],
      path: "Sources/Tools/ProtoSwiftGen",
      swiftSettings: swiftSettings
    ),

    // MARK: service kit and services
    /// The database as handlers and stores use it: read, write (transactions retried on
    /// serialization failures), advisory locks, typed rows, database failures as gRPC statuses
    /// (the one mapping), and an outbox served as a resumable event stream.
    .target(
      name: "PostgresRPC",
      dependencies: ["EventOutbox", "Postgres", "RPCCore"],
      swiftSettings: swiftSettings
    ),
    /// Authentication: libsodium crypto (Ed25519, argon2id), EdDSA access tokens, the caller
    /// of a call and the interceptor that checks credentials and roles.
    .target(
      name: "Auth",
      dependencies: ["CSodium", "RPCCore"],
      swiftSettings: swiftSettings
    ),
    /// What service libraries link: request helpers, health and reflection, the identity
    /// client's calls, background workers, a blocking-work pool. No NIO, no HTTP/2 transport.
    .target(
      name: "ServiceKit",
      dependencies: [
        "Auth",
        "GRPCHealthV1Protos",
        "GRPCReflectionV1Protos",
        "GRPCReflectionV1alphaProtos",
        "IdentityV1Protos",
        "ProtoRuntime",
        "RPCCore",
      ],
      swiftSettings: swiftSettings
    ),
    /// What only executables link: flags and environment, JSON logs, the identity connection,
    /// and ``ServiceHost``, which runs a service's whole life in one ServiceGroup.
    .target(
      name: "ServiceRuntime",
      dependencies: [
        "Auth",
        "RPCCore",
        "RPCHTTP2",
        "ServiceKit",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    /// The host's database, linked only by executables that have one (identity, catalog) and by
    /// ServiceTesting, so that a server without a database links no libpq: `--database-url`,
    /// ``ServiceDatabase`` (schema, migrations, pool) and `HostResources.pool`.
    .target(
      name: "DatabaseRuntime",
      dependencies: [
        "Migrations",
        "Postgres",
        "ServiceKit",
        "ServiceRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    /// Test support: a service started in process on a throwaway schema, over loopback HTTP/2,
    /// with clients bound to a caller of a given role. Linked by tests only.
    .target(
      name: "ServiceTesting",
      dependencies: [
        "Auth",
        "DatabaseRuntime",
        "Migrations",
        "Postgres",
        "PostgresTestSupport",
        "RPCCore",
        "RPCHTTP2",
        "ServiceKit",
        "ServiceRuntime",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    /// A service's schema migrations: its `migrations/NNNN_name.{up,down}.sql` files, embedded
    /// in code (no Foundation bundle), and their list. Linked by the service's executable and
    /// by `suite-db`, not by the service library.
    .target(
      name: "IdentitySchema",
      dependencies: ["Migrations"],
      resources: [.embedInCode("migrations")],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "CatalogSchema",
      dependencies: ["Migrations"],
      resources: [.embedInCode("migrations")],
      swiftSettings: swiftSettings
    ),
    /// The identity service: tenants, users, sessions and tokens, signing keys, audit log.
    .target(
      name: "IdentityService",
      dependencies: [
        "ServiceKit",
        "Auth",
        "Postgres",
        "PostgresRPC",
        "IdentityV1Protos",
        "RPCCore",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    /// Transactional outbox and its resumable event stream, shared by the services.
    .target(
      name: "EventOutbox",
      dependencies: ["Postgres"],
      swiftSettings: swiftSettings
    ),
    /// The catalog service: products, categories, locations, stock, reservations, events.
    .target(
      name: "CatalogService",
      dependencies: [
        "Auth",
        "EventOutbox",
        "Postgres",
        "PostgresRPC",
        "CatalogV1Protos",
        "RPCCore",
        "ServiceKit",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    /// The gateway: transparent proxying, balancing, retries, edge authentication, rate limits.
    .target(
      name: "GatewayService",
      dependencies: [
        "Auth",
        "CatalogV1Protos",
        "GatewayV1Protos",
        "GRPCHealthV1Protos",
        "GRPCReflectionV1Protos",
        "GRPCReflectionV1alphaProtos",
        // Only its file descriptors: the wire tests route grpc.testing.TestService.
        "GRPCTestingProtos",
        "IdentityV1Protos",
        "RPCCore",
        "RPCHTTP2",
        "ServiceKit",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: hotPathSettings
    ),
    .target(
      name: "InteropService",
      dependencies: ["RPCCore", "GRPCTestingProtos"],
      swiftSettings: swiftSettings
    ),

    // MARK: executables
    .executableTarget(
      name: "identity",
      dependencies: [
        "Auth",
        "DatabaseRuntime",
        "IdentitySchema",
        "IdentityService",
        "Postgres",
        "ServiceKit",
        "ServiceRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      // `@main` in main.swift beside the subcommands' files (SwiftPM parses a main.swift as
      // top-level code when a target has more than one file).
      swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
    ),
    .executableTarget(
      name: "catalog",
      dependencies: [
        "CatalogSchema",
        "CatalogService",
        "DatabaseRuntime",
        "ServiceKit",
        "ServiceRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),
    /// Deterministic synthetic stock and sales CSV files in the source format.
    .executableTarget(
      name: "catalog-datagen",
      dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Tools/catalog-datagen",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "gateway",
      dependencies: [
        "GatewayService",
        "RPCHTTP2",
        "ServiceKit",
        "ServiceRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    /// Token verification and password hashing rates (scripts/bench-identity.sh).
    .executableTarget(
      name: "token-bench",
      dependencies: ["Auth"],
      path: "Sources/Tools/token-bench",
      swiftSettings: swiftSettings
    ),
    /// Primary-key lookups through the pool, next to pgbench (make bench).
    .executableTarget(
      name: "db-bench",
      dependencies: [
        "Postgres",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/Tools/db-bench",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "interop-server",
      dependencies: [
        "InteropService",
        "RPCHTTP2",
        "ServiceRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),

    .executableTarget(
      name: "interop-client",
      dependencies: [
        "InteropService",
        "RPCCore",
        "RPCHTTP2",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),

    .executableTarget(
      name: "suite-db",
      dependencies: [
        "CatalogSchema",
        "IdentitySchema",
        "Migrations",
        "Postgres",
        "SuiteDatabase",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),

    // MARK: tests
    .testTarget(
      name: "PostgresRPCTests",
      dependencies: [
        "EventOutbox",
        "PostgresRPC",
        "Postgres",
        "PostgresTestSupport",
        "RPCCore",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ServiceKitTests",
      dependencies: [
        "RPCCore", "RPCHTTP2", "ServiceKit", "ServiceRuntime",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ServiceRuntimeTests",
      dependencies: [
        "Auth", "DatabaseRuntime", "GRPCHealthV1Protos", "GRPCTestingProtos", "InteropService", "RPCCore", "ServiceKit",
        "ServiceRuntime", "ServiceTesting",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "GatewayTests",
      dependencies: ["Auth", "GatewayService", "RPCCore", "ServiceKit", .product(name: "Logging", package: "swift-log")],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "IdentityTests",
      dependencies: [
        "Auth", "DatabaseRuntime", "IdentitySchema", "IdentityService", "IdentityV1Protos", "Migrations", "Postgres",
        "PostgresTestSupport", "RPCCore", "ServiceRuntime", "ServiceTesting",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "AuthTests",
      dependencies: ["Auth", "GRPCHealthV1Protos", "GRPCTestingProtos", "RPCCore", "RPCHTTP2", "ServiceKit"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "RPCCoreTests",
      dependencies: ["RPCCore"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ProtosTests",
      dependencies: [
        "CatalogV1Protos", "GatewayV1Protos", "GRPCHealthV1Protos", "GRPCReflectionV1Protos",
        "GRPCReflectionV1alphaProtos", "GRPCTestingProtos", "IdentityV1Protos", "RPCCore", "SuiteV1Protos", "GoogleProtobufProtos", "TestV1Protos",
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "RPCHTTP2Tests",
      dependencies: [
        "RPCHTTP2", "RPCCore", "GRPCHealthV1Protos", "GRPCReflectionV1Protos", "GRPCTestingProtos", "InteropService",
        "ServiceKit",
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PostgresTests",
      dependencies: [
        "Postgres",
        "PostgresTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "CatalogTests",
      dependencies: [
        "Auth",
        "CatalogService",
        "CatalogSchema",
        "Migrations",
        "Postgres",
        "PostgresTestSupport",
        "CatalogV1Protos",
        "RPCCore",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "MigrationsTests",
      dependencies: [
        "Migrations",
        "Postgres",
        "PostgresTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "SuiteDatabaseTests",
      dependencies: [
        "CatalogSchema",
        "IdentitySchema",
        "Migrations",
        "Postgres",
        "PostgresTestSupport",
        "SuiteDatabase",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
  ]
)
