import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceKit
import Postgres
import PostgresRPC
public import IdentityV1Protos
public import RPCCore

/// `identity.v1.Users`: the users of the caller's tenant.
public struct UsersService: Identity_V1_Users.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  public func createUser(request: Identity_V1_CreateUserRequest, context: ServerContext) async throws -> Identity_V1_User {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let email = try Self.validEmail(request.email)
    guard let role = Role(message: request.role) else {
      throw RPCError(code: .invalidArgument, message: "role must be ROLE_VIEWER, ROLE_EDITOR or ROLE_ADMIN.")
    }
    try self.context.checkPasswordPolicy(request.password)
    let phone = try Self.validPhone(request.phone)
    let hash = try await self.context.hashPassword(request.password)
    let user = try await self.context.users.create(
      UserStore.NewUser(
        tenantID: tenantID, email: email, phone: phone, username: request.username, fullName: request.fullName,
        role: role, receiveEmail: request.receiveEmail, passwordHash: hash),
      actor: caller.subject)
    return user.message
  }

  public func getUser(request: Identity_V1_GetUserRequest, context: ServerContext) async throws -> Identity_V1_User {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let id = try parseID(request.id, what: "id")
    guard let user = try await self.context.users.user(id: id, tenantID: tenantID) else {
      throw RPCError(code: .notFound, message: "No user \(id.uuidString.lowercased()) in this tenant.")
    }
    return user.message
  }

  public func listUsers(request: Identity_V1_ListUsersRequest, context: ServerContext) async throws
    -> Identity_V1_ListUsersResponse
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    guard request.pageSize >= 0 else { throw RPCError(code: .invalidArgument, message: "page_size must not be negative.") }
    let pageSize = Int64(request.pageSize == 0 ? 50 : min(Int(request.pageSize), 500))
    let cursor = try PageCursor(token: request.pageToken)
    let role: String? = request.role == .unspecified ? nil : try Self.roleFilter(request.role)
    let prefix: String? = request.emailPrefix.isEmpty ? nil : Self.likePrefix(request.emailPrefix.lowercased())
    let page = try await self.context.users.list(
      after: cursor, role: role, activeOnly: request.activeOnly, emailPattern: prefix, limit: pageSize, tenantID: tenantID)
    var response = Identity_V1_ListUsersResponse()
    response.users = page.users.map(\.message)
    response.nextPageToken = page.next?.token ?? ""
    return response
  }

  public func countUsers(request: Identity_V1_CountUsersRequest, context: ServerContext) async throws
    -> Identity_V1_CountUsersResponse
  {
    let tenantID = try context.requireCaller().tenantUUID
    var response = Identity_V1_CountUsersResponse()
    for (role, active, count) in try await self.context.users.counts(tenantID: tenantID) {
      if active {
        response.active += count
        response.activeByRole[role, default: 0] += count
      } else {
        response.inactive += count
      }
    }
    return response
  }

  public func updateUser(request: Identity_V1_UpdateUserRequest, context: ServerContext) async throws -> Identity_V1_User {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    guard let changes = request.user else { throw RPCError(code: .invalidArgument, message: "user is required.") }
    let id = try parseID(changes.id, what: "user.id")
    let allowed: Set<String> = ["email", "phone", "username", "full_name", "role", "verified", "receive_email"]
    let mask = try updateMask(request.updateMask, allowed: allowed)
    let email = mask.contains("email") ? try Self.validEmail(changes.email) : nil
    let phone = mask.contains("phone") ? try Self.validPhone(changes.phone) : nil
    var newRole: Role?
    if mask.contains("role") {
      guard let parsed = Role(message: changes.role) else {
        throw RPCError(code: .invalidArgument, message: "user.role must be ROLE_VIEWER, ROLE_EDITOR or ROLE_ADMIN.")
      }
      newRole = parsed
    }
    let role = newRole
    let updated = try await self.context.users.update(
      id: id, tenantID: tenantID, actor: caller.subject, actorIsPlatformOperator: caller.kind == .platformOperator
    ) { user in
      if let email { user.email = email }
      if mask.contains("phone") { user.phone = phone }
      if mask.contains("username") { user.username = changes.username }
      if mask.contains("full_name") { user.fullName = changes.fullName }
      if let role { user.role = role }
      if mask.contains("verified") { user.verified = changes.verified }
      if mask.contains("receive_email") { user.receiveEmail = changes.receiveEmail }
    }
    return updated.message
  }

  public func deactivateUser(request: Identity_V1_DeactivateUserRequest, context: ServerContext) async throws
    -> Identity_V1_User
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let id = try parseID(request.id, what: "id")
    if id.uuidString.lowercased() == caller.subject.lowercased() {
      throw RPCError(code: .failedPrecondition, message: "Admins cannot deactivate themselves.")
    }
    let updated = try await self.context.users.update(
      id: id, tenantID: tenantID, actor: caller.subject, actorIsPlatformOperator: caller.kind == .platformOperator,
      action: "deactivate"
    ) { user in
      user.active = false
    }
    return updated.message
  }

  public func setPassword(request: Identity_V1_SetPasswordRequest, context: ServerContext) async throws
    -> Identity_V1_SetPasswordResponse
  {
    let caller = try context.requireCaller()
    let tenantID = try caller.tenantUUID
    let ownID = try parseID(caller.subject, what: "the caller's id")
    let target = request.userId.isEmpty ? ownID : try parseID(request.userId, what: "user_id")
    try self.context.checkPasswordPolicy(request.newPassword)
    if target == ownID {
      guard let (stored, email) = try await self.context.users.passwordHashAndEmail(id: ownID, tenantID: tenantID) else {
        throw RPCError(code: .permissionDenied, message: "The current password is wrong.")
      }
      // Guessing the current password with a stolen access token is throttled like logins,
      // on the same account key: they share one budget and one lock.
      let throttle = LoginThrottle(context: self.context)
      let accountKey = throttle.accountKey(tenantID: tenantID, email: email)
      let (attempt, matches) = try await throttle.attempt([accountKey]) {
        try await self.context.verifyPassword(request.currentPassword, against: stored)
      }
      guard matches else {
        throw RPCError(code: .permissionDenied, message: "The current password is wrong.")
      }
      try await throttle.succeeded(attempt, clearing: [accountKey.name])
    } else {
      guard caller.role >= .admin else {
        throw RPCError(code: .permissionDenied, message: "Only admins set other users' passwords.")
      }
    }
    let hash = try await self.context.hashPassword(request.newPassword)
    // UserStore refuses to change the platform operator's password unless the caller is one.
    try await self.context.users.setPassword(
      id: target, tenantID: tenantID, hash: hash, actor: caller.subject,
      actorIsPlatformOperator: caller.kind == .platformOperator)
    return Identity_V1_SetPasswordResponse()
  }

  static func validEmail(_ text: String) throws(RPCError) -> String {
    let email = text.trimmingWhitespace()
    let parts = email.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
      !parts[1].hasSuffix("."), email.utf8.count <= 320, !email.contains(where: { $0.isWhitespace })
    else {
      throw RPCError(code: .invalidArgument, message: "email must look like name@example.com.")
    }
    return email
  }

  static func validPhone(_ text: String) throws(RPCError) -> String? {
    let phone = text.trimmingWhitespace()
    if phone.isEmpty { return nil }
    let allowed = Set("+0123456789 -()")
    guard phone.count <= 32, phone.allSatisfy({ allowed.contains($0) }), phone.contains(where: \.isNumber) else {
      throw RPCError(code: .invalidArgument, message: "phone may contain digits, spaces, +, - and parentheses (at most 32).")
    }
    return phone
  }

  static func roleFilter(_ role: Identity_V1_Role) throws(RPCError) -> String {
    guard let role = Role(message: role) else { throw RPCError(code: .invalidArgument, message: "Unknown role filter.") }
    return role.rawValue
  }

  /// `text%` with LIKE's wildcards in `text` escaped.
  static func likePrefix(_ text: String) -> String {
    var out = ""
    for character in text {
      if character == "%" || character == "_" || character == "\\" { out.append("\\") }
      out.append(character)
    }
    return out + "%"
  }
}

/// A position in a list ordered by (created_at, id): `<microseconds>.<uuid>`.
struct PageCursor: Sendable {
  var createdAtMicroseconds: Int64
  var id: UUID

  init(createdAtMicroseconds: Int64, id: UUID) {
    self.createdAtMicroseconds = createdAtMicroseconds
    self.id = id
  }

  init?(token: String) throws(RPCError) {
    if token.isEmpty { return nil }
    guard let bytes = Base64URL.decode(token), let text = String(validating: bytes, as: UTF8.self),
      let dot = text.firstIndex(of: "."), let micros = Int64(text[..<dot]),
      let id = UUID(uuidString: String(text[text.index(after: dot)...]))
    else {
      throw RPCError(code: .invalidArgument, message: "page_token is not a token this service issued.")
    }
    self.createdAtMicroseconds = micros
    self.id = id
  }

  var token: String { Base64URL.encode(Array("\(self.createdAtMicroseconds).\(self.id.uuidString)".utf8)) }
}
