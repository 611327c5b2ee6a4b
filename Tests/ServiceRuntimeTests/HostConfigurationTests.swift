import ArgumentParser
import DatabaseRuntime
import ServiceRuntime
import Testing

@Suite("Host configuration")
struct HostConfigurationTests {
  @Test func aDatabaseURLThatDoesNotParseIsOneLineNamingTheVariable() throws {
    let options = try DatabaseOptions.parse(["--database-url", "mysql://nope"])
    let error = #expect(throws: StartupError.self) { _ = try options.configuration(for: "catalog") }
    #expect(error?.message == "DATABASE_URL is not a valid PostgreSQL URL or connection string.")
  }

  @Test func theServiceNameBecomesTheApplicationName() throws {
    let options = try DatabaseOptions.parse(["--database-url", "postgresql://catalog@127.0.0.1:5432/suite"])
    #expect(try options.configuration(for: "catalog").applicationName == "catalog")
  }

  @Test func aConfigurationFileIsReadWholeAndAMissingOneIsNil() throws {
    #expect(ConfigurationFile.read("/nonexistent/gateway.conf") == nil)
    let text = ConfigurationFile.read("/proc/self/status")
    #expect(text?.contains("Name:") == true)
  }
}
