import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Postgres
import PostgresRPC
import IdentityV1Protos
import RPCCore
import ServiceKit

/// A row of `identity.users` without its password hash.
struct UserRecord: Sendable, Hashable, RowDecodable {
  var id: UUID
  var tenantID: UUID
  var email: String
  var phone: String?
  var username: String
  var fullName: String
  var role: Role
  var platformOperator: Bool
  var active: Bool
  var verified: Bool
  var receiveEmail: Bool
  var createdAt: Date
  var updatedAt: Date
  var lastLoginAt: Date?
  var lastAccessAt: Date?

  /// The columns ``init(row:)`` reads, in order.
  static let columns = """
    id, tenant_id, email, phone, username, full_name, role, platform_operator, active, verified,
    receive_email, created_at, updated_at, last_login_at, last_access_at
    """

  /// How many columns ``columns`` names; a query may select more after them.
  static let columnCount = 15

  /// Decodes the first ``columnCount`` columns.
  init(row: PostgresRow) throws {
    let role: String
    (
      self.id, self.tenantID, self.email, self.phone, self.username, self.fullName, role, self.platformOperator,
      self.active, self.verified, self.receiveEmail, self.createdAt, self.updatedAt, self.lastLoginAt, self.lastAccessAt
    ) = try row.decode(
      (UUID, UUID, String, String?, String, String, String, Bool, Bool, Bool, Bool, Date, Date, Date?, Date?).self, from: 0)
    self.role = Role(rawValue: role) ?? .viewer
  }

  var message: Identity_V1_User {
    var user = Identity_V1_User()
    user.id = self.id.uuidString.lowercased()
    user.tenantId = self.tenantID.uuidString.lowercased()
    user.email = self.email
    user.phone = self.phone ?? ""
    user.username = self.username
    user.fullName = self.fullName
    user.role = self.role.message
    user.active = self.active
    user.verified = self.verified
    user.receiveEmail = self.receiveEmail
    user.createdAtMs = self.createdAt.unixMilliseconds
    user.updatedAtMs = self.updatedAt.unixMilliseconds
    user.lastLoginAtMs = self.lastLoginAt?.unixMilliseconds ?? 0
    user.lastAccessAtMs = self.lastAccessAt?.unixMilliseconds ?? 0
    return user
  }

  /// The audit representation: every field but secrets, as a JSON object with sorted keys.
  var auditJSON: String {
    JSONText.object([
      ("active", .bool(self.active)), ("email", .string(self.email)), ("full_name", .string(self.fullName)),
      ("id", .string(self.id.uuidString.lowercased())), ("phone", self.phone.map(JSONText.Value.string) ?? .null),
      ("platform_operator", .bool(self.platformOperator)), ("receive_email", .bool(self.receiveEmail)),
      ("role", .string(self.role.rawValue)), ("username", .string(self.username)), ("verified", .bool(self.verified)),
    ])
  }
}

extension Role {
  var message: Identity_V1_Role {
    switch self {
    case .viewer: .viewer
    case .editor: .editor
    case .admin: .admin
    }
  }

  init?(message: Identity_V1_Role) {
    switch message {
    case .viewer: self = .viewer
    case .editor: self = .editor
    case .admin: self = .admin
    default: return nil
    }
  }
}


