public import RPCCore

/// The catalog service's RPC surface. Who may call what is declared on each rpc in
/// proto/catalog/v1/catalog.proto (`suite.v1.access`): viewers read, editors write.
public enum CatalogServer {
  public static func services(context: CatalogContext) -> [any RegistrableRPCService] {
    [
      ProductsService(context: context), CategoriesService(context: context), InventoryService(context: context),
      ReservationsService(context: context), EventsService(context: context), StockAnalyticsService(context: context),
    ]
  }
}
