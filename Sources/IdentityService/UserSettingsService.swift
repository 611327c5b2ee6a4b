import Auth
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import IdentityV1Protos
public import RPCCore
import ServiceKit

/// `identity.v1.UserSettings`: the caller's preferences and dashboards.
public struct UserSettingsService: Identity_V1_UserSettings.SimpleServiceProtocol {
  let context: IdentityContext

  public init(context: IdentityContext) {
    self.context = context
  }

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
    return try await self.context.userSettings.preferences(user: user, tenantID: tenant).message
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
    var update = PreferencesUpdate()
    if mask.contains("theme") { update.theme = given.theme }
    if mask.contains("language") { update.language = given.language }
    if mask.contains("timezone") { update.timezone = given.timezone }
    if mask.contains("date_format") { update.dateFormat = given.dateFormat }
    if mask.contains("time_format") { update.timeFormat = given.timeFormat }
    if mask.contains("notify_email") { update.notifyEmail = given.notifyEmail }
    if mask.contains("notify_push") { update.notifyPush = given.notifyPush }
    if mask.contains("dashboard_refresh_seconds") { update.dashboardRefreshSeconds = given.dashboardRefreshSeconds }
    if mask.contains("custom") { update.customJSON = custom }
    return try await self.context.userSettings.updatePreferences(update, user: user, tenantID: tenant).message
  }

  public func listDashboards(request: Identity_V1_ListDashboardsRequest, context: ServerContext) async throws
    -> Identity_V1_ListDashboardsResponse
  {
    let (tenant, user) = try self.user(context)
    var response = Identity_V1_ListDashboardsResponse()
    response.dashboards = try await self.context.userSettings.dashboards(visibleTo: user, tenantID: tenant).map(\.message)
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
    let id = dashboard.id.isEmpty ? nil : try parseID(dashboard.id, what: "dashboard.id")
    return try await self.context.userSettings.saveDashboard(
      id: id, version: dashboard.version, name: name, layoutJSON: layout, isDefault: dashboard.isDefault,
      shared: dashboard.shared, user: user, tenantID: tenant
    ).message
  }

  public func deleteDashboard(request: Identity_V1_DeleteDashboardRequest, context: ServerContext) async throws
    -> Identity_V1_DeleteDashboardResponse
  {
    let (tenant, user) = try self.user(context)
    let id = try parseID(request.id, what: "id")
    guard try await self.context.userSettings.deleteDashboard(id, user: user, tenantID: tenant) else {
      throw RPCError(code: .notFound, message: "No dashboard \(id.uuidString.lowercased()) of yours.")
    }
    return Identity_V1_DeleteDashboardResponse()
  }
}
