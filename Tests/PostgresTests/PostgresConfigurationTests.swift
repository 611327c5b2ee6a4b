import Postgres
import Testing

@Suite("PostgresConfiguration")
struct PostgresConfigurationTests {
  @Test func parsesURLWithPassword() throws {
    let config = try PostgresConfiguration(
      parsing: "postgres://orders:s%40cr%3At@db.example.com:6543/suite?sslmode=require&application_name=orders&connect_timeout=7")
    #expect(config.user == "orders")
    #expect(config.password == "s@cr:t")
    #expect(config.host == "db.example.com")
    #expect(config.port == 6543)
    #expect(config.database == "suite")
    #expect(config.sslMode == .require)
    #expect(config.applicationName == "orders")
    #expect(config.connectTimeout == .seconds(7))
  }

  @Test func parsesURLWithoutPassword() throws {
    let config = try PostgresConfiguration(parsing: "postgresql://postgres@127.0.0.1:55432/postgres")
    #expect(config.user == "postgres")
    #expect(config.password == nil)
    #expect(config.host == "127.0.0.1")
    #expect(config.port == 55432)
    #expect(config.database == "postgres")
    #expect(config.description == "postgres://postgres@127.0.0.1:55432/postgres")
  }

  @Test func parsesMinimalURLs() throws {
    let empty = try PostgresConfiguration(parsing: "postgres://")
    #expect(empty.host == nil && empty.user == nil && empty.database == nil && empty.port == nil)
    let socket = try PostgresConfiguration(parsing: "postgres://app@%2Fvar%2Frun%2Fpostgresql/db")
    #expect(socket.host == "/var/run/postgresql")
    let ipv6 = try PostgresConfiguration(parsing: "postgres://[::1]:5433/db")
    #expect(ipv6.host == "::1")
    #expect(ipv6.port == 5433)
    #expect(ipv6.description == "postgres://[::1]:5433/db")
  }

  @Test func redactsPassword() throws {
    let config = try PostgresConfiguration(parsing: "postgres://u:hunter2@localhost/db")
    #expect(!config.description.contains("hunter2"))
    #expect(!String(reflecting: config).contains("hunter2"))
    #expect(config.description == "postgres://u:********@localhost/db")
  }

  @Test func searchPathAndOptions() throws {
    let config = try PostgresConfiguration(
      parsing: "postgres://h/db?search_path=orders,public&options=-c%20statement_timeout%3D5s")
    #expect(config.searchPath == ["orders", "public"])
    #expect(config.runtimeParameters == ["statement_timeout": "5s"])

    let fromOptions = try PostgresConfiguration(parsing: "host=h options='-c search_path=a,b -c lock_timeout=1s'")
    #expect(fromOptions.searchPath == ["a", "b"])
    #expect(fromOptions.runtimeParameters == ["lock_timeout": "1s"])
  }

  @Test func descriptionListsSettingsButNoSecrets() throws {
    var config = PostgresConfiguration(host: "db", port: 5432, user: "app", password: "pw-123", database: "suite")
    config.searchPath = ["orders"]
    config.runtimeParameters = ["statement_timeout": "5s", "lock_timeout": "1s"]
    config.additionalParameters = ["sslpassword": "pw-456", "sslrootcert": "/ca.pem"]
    let text = config.description
    #expect(!text.contains("pw-123") && !text.contains("pw-456"))
    #expect(text.hasPrefix("postgres://app:********@db:5432/suite?"))
    #expect(text.contains("options=-c%20lock_timeout%3D1s%20-c%20statement_timeout%3D5s"))
    #expect(text.contains("search_path=orders"))
  }

  @Test func parsesKeyValueString() throws {
    let config = try PostgresConfiguration(
      parsing: "host=localhost port=5433 user=app password='it\\'s secret' dbname=suite sslrootcert=/x.pem")
    #expect(config.host == "localhost")
    #expect(config.port == 5433)
    #expect(config.user == "app")
    #expect(config.password == "it's secret")
    #expect(config.database == "suite")
    #expect(config.additionalParameters == ["sslrootcert": "/x.pem"])
    #expect(!config.description.contains("secret"))
  }

  @Test(arguments: [
    "mysql://u:pw@h/db", "postgres://u:pw@h:notaport/db", "postgres://u:pw@h1,h2/db",
    "postgres://u:p%zzw@h/db", "host='unterminated",
  ])
  func rejectsMalformedInput(_ input: String) {
    do {
      _ = try PostgresConfiguration(parsing: input)
      Issue.record("expected an error for \(input)")
    } catch let error as PostgresError {
      #expect(error.code == .invalidConfiguration)
      #expect(!String(reflecting: error).contains("pw"))
    } catch {
      Issue.record("unexpected error \(error)")
    }
  }
}
