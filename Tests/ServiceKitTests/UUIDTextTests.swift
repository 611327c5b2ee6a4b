import Foundation
import RPCCore
import ServiceKit
import Testing

@Suite("UUIDs as text on the wire")
struct UUIDTextTests {
  @Test func theLowerCaseFormMatchesFoundationsAndParsesBack() {
    for _ in 0..<1000 {
      let id = UUID()
      #expect(id.lowercased == id.uuidString.lowercased())
      #expect(UUID(canonicalText: id.lowercased) == id)
      #expect(UUID(canonicalText: id.uuidString) == id)
    }
    let edge = UUID(uuid: (0, 0x0F, 0xF0, 0xFF, 0x10, 0x9A, 0xA9, 0xAF, 0xFA, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD))
    #expect(edge.lowercased == "000ff0ff-109a-a9af-fa01-23456789abcd")
    #expect(UUID(canonicalText: "000FF0FF-109A-A9AF-FA01-23456789ABCD") == edge)
  }

  @Test(arguments: [
    "", "not a uuid", "000ff0ff-109a-a9af-fa01-23456789abc", "000ff0ff-109a-a9af-fa01-23456789abcde",
    "000ff0ff+109a-a9af-fa01-23456789abcd", "000ff0ff-109a-a9af-fa01_23456789abcd", "g00ff0ff-109a-a9af-fa01-23456789abcd",
    "{00ff0ff-109a-a9af-fa01-23456789abcd}", "000ff0ff-109a-a9af-fa01-23456789abc\u{e9}", "'; DROP TABLE products; --------------",
  ])
  func textThatIsNotACanonicalUUIDIsRefusedAsFoundationRefusesIt(_ text: String) {
    #expect(UUID(canonicalText: text) == nil)
    #expect(UUID(uuidString: text) == nil)
  }

  @Test func aBadIDNamesTheFieldWithInvalidArgument() {
    let error = #expect(throws: RPCError.self) { try parseID("12", what: "product_id") }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message == "product_id must be a UUID, got \"12\".")
    let id = UUID()
    #expect((try? parseID(id.lowercased, what: "product_id")) == id)
  }
}
