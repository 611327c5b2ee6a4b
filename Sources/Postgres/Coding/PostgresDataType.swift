/// A PostgreSQL type, identified by its OID (`pg_type.oid`).
///
/// Built-in types have fixed OIDs; user-defined types (enums, domains' base types excepted)
/// get OIDs at creation time and have no static constant here.
public struct PostgresDataType: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public init(_ oid: UInt32) { self.rawValue = oid }

  /// The OID as a number.
  public var oid: UInt32 { self.rawValue }

  public static let bool = PostgresDataType(16)
  public static let bytea = PostgresDataType(17)
  public static let char = PostgresDataType(18)
  public static let name = PostgresDataType(19)
  public static let int8 = PostgresDataType(20)
  public static let int2 = PostgresDataType(21)
  public static let int4 = PostgresDataType(23)
  public static let text = PostgresDataType(25)
  public static let oidType = PostgresDataType(26)
  public static let json = PostgresDataType(114)
  public static let float4 = PostgresDataType(700)
  public static let float8 = PostgresDataType(701)
  public static let unknown = PostgresDataType(705)
  public static let bpchar = PostgresDataType(1042)
  public static let varchar = PostgresDataType(1043)
  public static let date = PostgresDataType(1082)
  public static let time = PostgresDataType(1083)
  public static let timestamp = PostgresDataType(1114)
  public static let timestamptz = PostgresDataType(1184)
  public static let interval = PostgresDataType(1186)
  public static let numeric = PostgresDataType(1700)
  public static let uuid = PostgresDataType(2950)
  public static let jsonb = PostgresDataType(3802)

  public static let boolArray = PostgresDataType(1000)
  public static let byteaArray = PostgresDataType(1001)
  public static let nameArray = PostgresDataType(1003)
  public static let int2Array = PostgresDataType(1005)
  public static let int4Array = PostgresDataType(1007)
  public static let textArray = PostgresDataType(1009)
  public static let bpcharArray = PostgresDataType(1014)
  public static let varcharArray = PostgresDataType(1015)
  public static let int8Array = PostgresDataType(1016)
  public static let float4Array = PostgresDataType(1021)
  public static let float8Array = PostgresDataType(1022)
  public static let timestampArray = PostgresDataType(1115)
  public static let timestamptzArray = PostgresDataType(1185)
  public static let numericArray = PostgresDataType(1231)
  public static let uuidArray = PostgresDataType(2951)
  public static let jsonArray = PostgresDataType(199)
  public static let jsonbArray = PostgresDataType(3807)

  private static let names: [UInt32: String] = [
    16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4",
    25: "text", 26: "oid", 114: "json", 700: "float4", 701: "float8", 705: "unknown",
    1042: "bpchar", 1043: "varchar", 1082: "date", 1083: "time", 1114: "timestamp",
    1184: "timestamptz", 1186: "interval", 1700: "numeric", 2950: "uuid", 3802: "jsonb",
    1000: "bool[]", 1001: "bytea[]", 1003: "name[]", 1005: "int2[]", 1007: "int4[]",
    1009: "text[]", 1014: "bpchar[]", 1015: "varchar[]", 1016: "int8[]", 1021: "float4[]",
    1022: "float8[]", 1115: "timestamp[]", 1185: "timestamptz[]", 1231: "numeric[]",
    2951: "uuid[]", 199: "json[]", 3807: "jsonb[]",
  ]

  private static let elementTypes: [UInt32: UInt32] = [
    1000: 16, 1001: 17, 1003: 19, 1005: 21, 1007: 23, 1009: 25, 1014: 1042, 1015: 1043,
    1016: 20, 1021: 700, 1022: 701, 1115: 1114, 1185: 1184, 1231: 1700, 2951: 2950, 199: 114,
    3807: 3802,
  ]

  /// The element type, when this is a built-in array type.
  public var elementType: PostgresDataType? {
    Self.elementTypes[self.rawValue].map(PostgresDataType.init(rawValue:))
  }

  /// The type's name and OID, for example `int8 (oid 20)`.
  public var description: String {
    if let name = Self.names[self.rawValue] {
      return "\(name) (oid \(self.rawValue))"
    }
    return "oid \(self.rawValue)"
  }
}
