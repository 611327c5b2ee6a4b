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

/// A row of `identity.user_preferences`.
struct PreferencesRecord: Sendable, Hashable, RowDecodable {
  var theme: String
  var language: String
  var timezone: String
  var dateFormat: String
  var timeFormat: String
  var notifyEmail: Bool
  var notifyPush: Bool
  var dashboardRefreshSeconds: Int32
  /// A JSON object of strings.
  var customJSON: String

  static let columns = """
    theme, language, timezone, date_format, time_format, notify_email, notify_push, dashboard_refresh_seconds, custom::text
    """

  init(row: PostgresRow) throws {
    (
      self.theme, self.language, self.timezone, self.dateFormat, self.timeFormat, self.notifyEmail, self.notifyPush,
      self.dashboardRefreshSeconds, self.customJSON
    ) = try row.decode((String, String, String, String, String, Bool, Bool, Int32, String).self)
  }

  var message: Identity_V1_Preferences {
    var preferences = Identity_V1_Preferences()
    preferences.theme = self.theme
    preferences.language = self.language
    preferences.timezone = self.timezone
    preferences.dateFormat = self.dateFormat
    preferences.timeFormat = self.timeFormat
    preferences.notifyEmail = self.notifyEmail
    preferences.notifyPush = self.notifyPush
    preferences.dashboardRefreshSeconds = self.dashboardRefreshSeconds
    preferences.custom = JSONText.stringMap(self.customJSON)
    return preferences
  }
}

/// What ``UserSettingsStore/updatePreferences(_:user:tenantID:)`` changes; `nil` leaves a
/// column as it is.
struct PreferencesUpdate: Sendable {
  var theme: String?
  var language: String?
  var timezone: String?
  var dateFormat: String?
  var timeFormat: String?
  var notifyEmail: Bool?
  var notifyPush: Bool?
  var dashboardRefreshSeconds: Int32?
  var customJSON: String?
}

/// A row of `identity.dashboard_layouts`.
struct DashboardRecord: Sendable, Hashable, RowDecodable {
  var id: UUID
  var ownerID: UUID
  var name: String
  var layoutJSON: String
  var isDefault: Bool
  var shared: Bool
  var version: Int32
  var updatedAt: Date

  static let columns = "id, user_id, name, layout::text, is_default, shared, version, updated_at"

  init(row: PostgresRow) throws {
    (self.id, self.ownerID, self.name, self.layoutJSON, self.isDefault, self.shared, self.version, self.updatedAt) =
      try row.decode((UUID, UUID, String, String, Bool, Bool, Int32, Date).self)
  }

  var message: Identity_V1_Dashboard {
    var dashboard = Identity_V1_Dashboard()
    dashboard.id = self.id.uuidString.lowercased()
    dashboard.ownerId = self.ownerID.uuidString.lowercased()
    dashboard.name = self.name
    dashboard.layoutJson = self.layoutJSON
    dashboard.isDefault = self.isDefault
    dashboard.shared = self.shared
    dashboard.version = self.version
    dashboard.updatedAtMs = self.updatedAt.unixMilliseconds
    return dashboard
  }
}

/// The SQL of a user's settings: `user_preferences` (a row made on first use) and
/// `dashboard_layouts` (optimistic versions).
struct UserSettingsStore: Sendable {
  let database: Database

  /// The user's preferences, created with the defaults on first use.
  func preferences(user: UUID, tenantID: UUID) async throws(RPCError) -> PreferencesRecord {
    try await self.database.read { connection in
      try await Self.ensurePreferences(user: user, tenantID: tenantID, on: connection)
      return try await connection.query(
        "SELECT \(columns: PreferencesRecord.self) FROM user_preferences WHERE user_id = \(user) AND tenant_id = \(tenantID)"
      ).first(PreferencesRecord.self)!
    }
  }

  /// Applies `update` to the user's preferences (created first when missing).
  func updatePreferences(_ update: PreferencesUpdate, user: UUID, tenantID: UUID) async throws(RPCError)
    -> PreferencesRecord
  {
    try await self.database.write { connection in
      try await Self.ensurePreferences(user: user, tenantID: tenantID, on: connection)
      return try await connection.query(
        """
        UPDATE user_preferences SET
          theme = coalesce(\(update.theme)::text, theme),
          language = coalesce(\(update.language)::text, language),
          timezone = coalesce(\(update.timezone)::text, timezone),
          date_format = coalesce(\(update.dateFormat)::text, date_format),
          time_format = coalesce(\(update.timeFormat)::text, time_format),
          notify_email = coalesce(\(update.notifyEmail)::bool, notify_email),
          notify_push = coalesce(\(update.notifyPush)::bool, notify_push),
          dashboard_refresh_seconds = coalesce(\(update.dashboardRefreshSeconds)::int4, dashboard_refresh_seconds),
          custom = coalesce(\(update.customJSON)::jsonb, custom),
          updated_at = now()
        WHERE user_id = \(user) AND tenant_id = \(tenantID)
        RETURNING \(columns: PreferencesRecord.self)
        """
      ).first(PreferencesRecord.self)!
    }
  }

  private static func ensurePreferences(user: UUID, tenantID: UUID, on connection: PostgresConnection) async throws {
    try await connection.query(
      "INSERT INTO user_preferences (user_id, tenant_id) VALUES (\(user), \(tenantID)) ON CONFLICT (user_id) DO NOTHING")
  }

  /// The user's dashboards and those shared in the tenant, the user's own first, by name.
  func dashboards(visibleTo user: UUID, tenantID: UUID) async throws(RPCError) -> [DashboardRecord] {
    try await self.database.read { connection in
      try await connection.query(
        """
        SELECT \(columns: DashboardRecord.self) FROM dashboard_layouts
        WHERE tenant_id = \(tenantID) AND (user_id = \(user) OR shared)
        ORDER BY user_id <> \(user), name, id
        """
      ).decode(DashboardRecord.self)
    }
  }

  /// Creates a dashboard (`id` `nil`) or replaces the user's dashboard `id` when it is still at
  /// `version` (`ABORTED` otherwise); a default one stops the user's other default.
  func saveDashboard(
    id: UUID?, version: Int32, name: String, layoutJSON: String, isDefault: Bool, shared: Bool, user: UUID,
    tenantID: UUID
  ) async throws(RPCError) -> DashboardRecord {
    try await self.database.write { connection in
      if isDefault {
        try await connection.query("UPDATE dashboard_layouts SET is_default = false WHERE user_id = \(user) AND is_default")
      }
      do {
        guard let id else {
          return try await connection.query(
            """
            INSERT INTO dashboard_layouts (id, tenant_id, user_id, name, layout, is_default, shared)
            VALUES (\(UUID()), \(tenantID), \(user), \(name), \(layoutJSON)::jsonb, \(isDefault), \(shared))
            RETURNING \(columns: DashboardRecord.self)
            """
          ).first(DashboardRecord.self)!
        }
        guard
          let current = try await connection.query(
            "SELECT version FROM dashboard_layouts WHERE id = \(id) AND tenant_id = \(tenantID) AND user_id = \(user) FOR UPDATE"
          ).first
        else { throw RPCError(code: .notFound, message: "No dashboard \(id.uuidString.lowercased()) of yours.") }
        let stored = try current.decode(Int32.self)
        guard stored == version else {
          throw RPCError(
            code: .aborted, message: "The dashboard changed since version \(version) (now \(stored)); reload and save again.")
        }
        return try await connection.query(
          """
          UPDATE dashboard_layouts SET name = \(name), layout = \(layoutJSON)::jsonb, is_default = \(isDefault),
            shared = \(shared), version = version + 1, updated_at = now()
          WHERE id = \(id) RETURNING \(columns: DashboardRecord.self)
          """
        ).first(DashboardRecord.self)!
      } catch let error as PostgresError where error.state?.errorClass == "22" {
        throw RPCError(code: .invalidArgument, message: "layout_json must be JSON.")
      }
    }
  }

  /// Deletes the user's dashboard `id`; `false` when the user has no such dashboard.
  func deleteDashboard(_ id: UUID, user: UUID, tenantID: UUID) async throws(RPCError) -> Bool {
    try await self.database.read { connection in
      let deleted = try await connection.query(
        "DELETE FROM dashboard_layouts WHERE id = \(id) AND tenant_id = \(tenantID) AND user_id = \(user)")
      return (deleted.affectedRows ?? 0) > 0
    }
  }
}
