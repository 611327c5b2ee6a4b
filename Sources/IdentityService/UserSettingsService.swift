import Auth
import Foundation
import Postgres
public import IdentityV1Protos
public import RPCCore
import ServiceKit

/// `identity.v1.UserSettings`: the caller's preferences and dashboards.
public struct UserSettingsService: Identity_V1_UserSettings.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

  static let preferenceColumns = """
    theme, language, timezone, date_format, time_format, notify_email, notify_push, dashboard_refresh_seconds, custom::text
    """

  /// The caller of `call` as a user (API keys have no preferences).
  func user(_ call: ServerContext) throws(RPCError) -> (tenant: UUID, user: UUID) {
    let caller = try call.requireCaller()
    guard caller.kind != .apiKey else {
      throw RPCError(code: .failedPrecondition, message: "API keys have no preferences or dashboards.")
    }
    return (try caller.tenantUUID, try parseID(caller.subject, what: "the caller's id"))
  }

  public func getPreferences(request: Identity_V1_GetPreferencesRequest, context: ServerContext) async throws
    -> Identity_V1_Preferences
  {
    let (tenant, user) = try self.user(context)
    let row = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        INSERT INTO user_preferences (user_id, tenant_id) VALUES (\(user), \(tenant)) ON CONFLICT (user_id) DO NOTHING
        """)
      return try await self.context.pool.query(
        "SELECT \(unescaped: Self.preferenceColumns) FROM user_preferences WHERE user_id = \(user) AND tenant_id = \(tenant)"
      ).first!
    }
    return try Self.preferences(row)
  }

  public func updatePreferences(request: Identity_V1_UpdatePreferencesRequest, context: ServerContext) async throws
    -> Identity_V1_Preferences
  {
    let (tenant, user) = try self.user(context)
    let given = request.preferences ?? Identity_V1_Preferences()
    let allowed: Set<String> = [
      "theme", "language", "timezone", "date_format", "time_format", "notify_email", "notify_push",
      "dashboard_refresh_seconds", "custom",
    ]
    let mask = try updateMask(request.updateMask, allowed: allowed)
    if mask.contains("theme") && !["light", "dark", "system"].contains(given.theme) {
      throw RPCError(code: .invalidArgument, message: "theme must be light, dark or system.")
    }
    if mask.contains("dashboard_refresh_seconds") && !(5...86400).contains(given.dashboardRefreshSeconds) {
      throw RPCError(code: .invalidArgument, message: "dashboard_refresh_seconds must be in 5...86400.")
    }
    for (field, value) in [("language", given.language), ("timezone", given.timezone), ("date_format", given.dateFormat),
                           ("time_format", given.timeFormat)] where mask.contains(field) {
      guard !value.isEmpty, value.count <= 64 else { throw RPCError(code: .invalidArgument, message: "\(field) must be 1 to 64 characters.") }
    }
    guard given.custom.count <= 100 else { throw RPCError(code: .invalidArgument, message: "At most 100 custom settings.") }
    let custom = JSONText.object(given.custom.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
    let row = try await self.context.database.transaction(on: self.context.pool) { connection in
      try await connection.query(
        "INSERT INTO user_preferences (user_id, tenant_id) VALUES (\(user), \(tenant)) ON CONFLICT (user_id) DO NOTHING")
      return try await connection.query(
        """
        UPDATE user_preferences SET
          theme = CASE WHEN \(mask.contains("theme")) THEN \(given.theme) ELSE theme END,
          language = CASE WHEN \(mask.contains("language")) THEN \(given.language) ELSE language END,
          timezone = CASE WHEN \(mask.contains("timezone")) THEN \(given.timezone) ELSE timezone END,
          date_format = CASE WHEN \(mask.contains("date_format")) THEN \(given.dateFormat) ELSE date_format END,
          time_format = CASE WHEN \(mask.contains("time_format")) THEN \(given.timeFormat) ELSE time_format END,
          notify_email = CASE WHEN \(mask.contains("notify_email")) THEN \(given.notifyEmail) ELSE notify_email END,
          notify_push = CASE WHEN \(mask.contains("notify_push")) THEN \(given.notifyPush) ELSE notify_push END,
          dashboard_refresh_seconds = CASE WHEN \(mask.contains("dashboard_refresh_seconds"))
            THEN \(given.dashboardRefreshSeconds) ELSE dashboard_refresh_seconds END,
          custom = CASE WHEN \(mask.contains("custom")) THEN \(custom)::jsonb ELSE custom END,
          updated_at = now()
        WHERE user_id = \(user) AND tenant_id = \(tenant)
        RETURNING \(unescaped: Self.preferenceColumns)
        """
      ).first!
    }
    return try Self.preferences(row)
  }

  public func listDashboards(request: Identity_V1_ListDashboardsRequest, context: ServerContext) async throws
    -> Identity_V1_ListDashboardsResponse
  {
    let (tenant, user) = try self.user(context)
    let rows = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        """
        SELECT \(unescaped: Self.dashboardColumns) FROM dashboard_layouts
        WHERE tenant_id = \(tenant) AND (user_id = \(user) OR shared)
        ORDER BY user_id <> \(user), name, id
        """)
    }
    var response = Identity_V1_ListDashboardsResponse()
    response.dashboards = try rows.map(Self.dashboard)
    return response
  }

  public func saveDashboard(request: Identity_V1_SaveDashboardRequest, context: ServerContext) async throws
    -> Identity_V1_Dashboard
  {
    let (tenant, user) = try self.user(context)
    guard let dashboard = request.dashboard else { throw RPCError(code: .invalidArgument, message: "dashboard is required.") }
    let name = try requiredText(dashboard.name, "dashboard.name", maxCharacters: 200)
    let layout = dashboard.layoutJson.isEmpty ? "{}" : dashboard.layoutJson
    guard layout.utf8.count <= 256 * 1024 else { throw RPCError(code: .invalidArgument, message: "layout_json is larger than 256 KiB.") }
    let row = try await self.context.database.transaction(on: self.context.pool) { connection in
      if dashboard.isDefault {
        try await connection.query("UPDATE dashboard_layouts SET is_default = false WHERE user_id = \(user) AND is_default")
      }
      do {
        if dashboard.id.isEmpty {
          return try await connection.query(
            """
            INSERT INTO dashboard_layouts (id, tenant_id, user_id, name, layout, is_default, shared)
            VALUES (\(UUID()), \(tenant), \(user), \(name), \(layout)::jsonb, \(dashboard.isDefault), \(dashboard.shared))
            RETURNING \(unescaped: Self.dashboardColumns)
            """
          ).first!
        }
        let id = try parseID(dashboard.id, what: "dashboard.id")
        guard
          let current = try await connection.query(
            "SELECT version FROM dashboard_layouts WHERE id = \(id) AND tenant_id = \(tenant) AND user_id = \(user) FOR UPDATE"
          ).first
        else { throw RPCError(code: .notFound, message: "No dashboard \(id.uuidString.lowercased()) of yours.") }
        let version = try current.decode(column: 0, as: Int32.self)
        guard version == dashboard.version else {
          throw RPCError(
            code: .aborted, message: "The dashboard changed since version \(dashboard.version) (now \(version)); reload and save again.")
        }
        return try await connection.query(
          """
          UPDATE dashboard_layouts SET name = \(name), layout = \(layout)::jsonb, is_default = \(dashboard.isDefault),
            shared = \(dashboard.shared), version = version + 1, updated_at = now()
          WHERE id = \(id) RETURNING \(unescaped: Self.dashboardColumns)
          """
        ).first!
      } catch let error as PostgresError where error.state?.errorClass == "22" {
        throw RPCError(code: .invalidArgument, message: "layout_json must be JSON.")
      }
    }
    return try Self.dashboard(row)
  }

  public func deleteDashboard(request: Identity_V1_DeleteDashboardRequest, context: ServerContext) async throws
    -> Identity_V1_DeleteDashboardResponse
  {
    let (tenant, user) = try self.user(context)
    let id = try parseID(request.id, what: "id")
    let deleted = try await self.context.database.translatingErrors {
      try await self.context.pool.query(
        "DELETE FROM dashboard_layouts WHERE id = \(id) AND tenant_id = \(tenant) AND user_id = \(user)")
    }
    guard (deleted.affectedRows ?? 0) > 0 else {
      throw RPCError(code: .notFound, message: "No dashboard \(id.uuidString.lowercased()) of yours.")
    }
    return Identity_V1_DeleteDashboardResponse()
  }

  static let dashboardColumns = "id, user_id, name, layout::text, is_default, shared, version, updated_at"

  static func dashboard(_ row: PostgresRow) throws -> Identity_V1_Dashboard {
    var dashboard = Identity_V1_Dashboard()
    dashboard.id = try row.decode(column: 0, as: UUID.self).uuidString.lowercased()
    dashboard.ownerId = try row.decode(column: 1, as: UUID.self).uuidString.lowercased()
    dashboard.name = try row.decode(column: 2, as: String.self)
    dashboard.layoutJson = try row.decode(column: 3, as: String.self)
    dashboard.isDefault = try row.decode(column: 4, as: Bool.self)
    dashboard.shared = try row.decode(column: 5, as: Bool.self)
    dashboard.version = try row.decode(column: 6, as: Int32.self)
    dashboard.updatedAtMs = try row.decode(column: 7, as: Date.self).unixMilliseconds
    return dashboard
  }

  static func preferences(_ row: PostgresRow) throws -> Identity_V1_Preferences {
    var preferences = Identity_V1_Preferences()
    preferences.theme = try row.decode(column: 0, as: String.self)
    preferences.language = try row.decode(column: 1, as: String.self)
    preferences.timezone = try row.decode(column: 2, as: String.self)
    preferences.dateFormat = try row.decode(column: 3, as: String.self)
    preferences.timeFormat = try row.decode(column: 4, as: String.self)
    preferences.notifyEmail = try row.decode(column: 5, as: Bool.self)
    preferences.notifyPush = try row.decode(column: 6, as: Bool.self)
    preferences.dashboardRefreshSeconds = try row.decode(column: 7, as: Int32.self)
    if let data = try row.decode(column: 8, as: String.self).data(using: .utf8),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    {
      for (key, value) in object { preferences.custom[key] = value as? String ?? "\(value)" }
    }
    return preferences
  }
}
