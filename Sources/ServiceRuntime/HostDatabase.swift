public import Logging
public import ServiceLifecycle

/// A database the host opens for its service, such as a schema of PostgreSQL
/// (DatabaseRuntime's `ServiceDatabase`). The host knows only this protocol, so a server
/// without a database links no database client.
public protocol HostDatabase: Sendable {
  /// The service `name`'s handle on the database, not yet connected, or the one line that
  /// says what is missing or wrong in the configuration.
  func open(name: String, logger: Logger) throws(StartupError) -> any OpenHostDatabase
}

/// An opened database: the host prepares it before the service is assembled, hands it to the
/// service in ``HostResources/database``, and runs it in its ServiceGroup, where it closes
/// when the group shuts down (last: after the identity connection).
public protocol OpenHostDatabase: Service {
  /// Makes the database ready for the service (applies its migrations).
  func prepare(logger: Logger) async throws(StartupError)
}
