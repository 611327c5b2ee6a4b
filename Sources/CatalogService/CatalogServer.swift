public import Auth
public import RPCCore

/// The catalog service's RPC surface: its services and who may call what.
public enum CatalogServer {
  public static func services(context: CatalogContext) -> [any RegistrableRPCService] {
    [
      ProductsService(context: context), CategoriesService(context: context), InventoryService(context: context),
      ReservationsService(context: context), EventsService(context: context), StockAnalyticsService(context: context),
    ]
  }

  /// Viewers read, editors write; nothing is public.
  public static let policy = AuthPolicy(
    publicMethods: [],
    requiredRoles: [
      "/catalog.v1.Products/GetProduct": .viewer, "/catalog.v1.Products/ListProducts": .viewer,
      "/catalog.v1.Categories/ListCategories": .viewer, "/catalog.v1.Inventory/ListLocations": .viewer,
      "/catalog.v1.Inventory/GetStock": .viewer, "/catalog.v1.Inventory/ListLowStock": .viewer,
      "/catalog.v1.Products/CountProducts": .viewer,
      "/catalog.v1.StockAnalytics/ListStockClients": .viewer, "/catalog.v1.StockAnalytics/GetStockAging": .viewer,
      "/catalog.v1.StockAnalytics/GetStockTotals": .viewer, "/catalog.v1.Events/WatchEvents": .viewer,
    ],
    defaultRole: .editor)
}
