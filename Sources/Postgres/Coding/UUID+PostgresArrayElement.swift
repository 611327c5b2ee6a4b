#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension UUID: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .uuidArray } }
extension Date: PostgresArrayElement { public static var postgresArrayType: PostgresDataType { .timestamptzArray } }
