// The throwaway cluster and helpers (TestCluster, withTestSchema, withTestConnection,
// testLogger) live in the PostgresTestSupport library, shared with the other database tests.
@_exported import PostgresTestSupport
