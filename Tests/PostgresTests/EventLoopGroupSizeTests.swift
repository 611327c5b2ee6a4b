@testable import Postgres
import Testing

@Suite("Shared event loop group size")
struct EventLoopGroupSizeTests {
  @Test func oneLoopPerFourCoresBetweenOneAndFour() {
    #expect(PostgresEventLoopGroup.defaultLoopCount(setting: nil, cores: 2) == 1)
    #expect(PostgresEventLoopGroup.defaultLoopCount(setting: nil, cores: 8) == 2)
    #expect(PostgresEventLoopGroup.defaultLoopCount(setting: nil, cores: 64) == 4)
  }

  @Test(arguments: [("2", 2), ("64", 64), ("0", 1), ("65", 1), ("two", 1), ("", 1), ("-3", 1)])
  func postgresEventLoopsSetsTheCountWhenItIsANumberFrom1To64(setting: String, expected: Int) {
    #expect(PostgresEventLoopGroup.defaultLoopCount(setting: setting, cores: 2) == expected)
  }
}
