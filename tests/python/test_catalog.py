"""The catalog service end to end: the real `catalog` executable next to the real `identity`
(whose published keys verify the tokens) on a throwaway PostgreSQL cluster."""

import concurrent.futures
import json
import threading
import time
import uuid

import grpc
import pytest
from catalog.v1 import catalog_pb2 as cat
from catalog.v1 import catalog_pb2_grpc as cat_rpc
from conftest import ServerProcess
from identity.v1 import identity_pb2 as idp
from identity.v1 import identity_pb2_grpc as id_rpc
from identity_fixtures import channel, identity, suite  # noqa: F401

STRONG = "correct horse battery staple"


@pytest.fixture(scope="module")
def catalog(suite, identity):
    server = ServerProcess(
        "catalog", "--sweep-interval", "0.2",
        env={"DATABASE_URL": suite.secrets["CATALOG_DATABASE_URL"], "IDENTITY_ADDRESS": f"127.0.0.1:{identity.port}"},
    )
    yield server
    assert server.alive(), "catalog died during the tests:\n" + "".join(server.log_lines[-50:])
    assert server.stop() == 0


@pytest.fixture(scope="module")
def cc(catalog):
    with grpc.insecure_channel(f"127.0.0.1:{catalog.port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def people(identity, channel):
    """Tokens of an admin, an editor and a viewer of one tenant, and an admin of another."""
    values = identity.bootstrap
    sessions = id_rpc.SessionsStub(channel)
    admin = sessions.Login(idp.LoginRequest(
        tenant_id=values["TENANT_ID"], email=values["ADMIN_EMAIL"], password=values["ADMIN_PASSWORD"]))
    users = id_rpc.UsersStub(channel)
    auth = (("authorization", f"Bearer {admin.access_token}"),)
    tokens = {"admin": admin.access_token}
    for role, enum in (("editor", idp.ROLE_EDITOR), ("viewer", idp.ROLE_VIEWER)):
        users.CreateUser(idp.CreateUserRequest(email=f"{role}@shop.test", role=enum, password=STRONG), metadata=auth)
        tokens[role] = sessions.Login(idp.LoginRequest(
            tenant_id=values["TENANT_ID"], email=f"{role}@shop.test", password=STRONG)).access_token
    other = id_rpc.TenantsStub(channel).CreateTenant(
        idp.CreateTenantRequest(name="Rival", admin_email="boss@rival.test"), metadata=auth)
    tokens["rival"] = sessions.Login(idp.LoginRequest(
        tenant_id=other.tenant.id, email="boss@rival.test", password=other.admin_initial_password)).access_token
    return tokens


def md(token):
    return (("authorization", f"Bearer {token}"),)


def fails(call):
    with pytest.raises(grpc.RpcError) as failure:
        call()
    return failure.value


def product(cc, token, sku, price="10.00", **fields):
    return cat_rpc.ProductsStub(cc).CreateProduct(
        cat.CreateProductRequest(product=cat.Product(sku=sku, name=fields.pop("name", sku), price=cat.Money(
            amount=price, currency="EUR"), **fields)), metadata=md(token))


def stocked(cc, people, sku, quantity, location="1101", threshold=0):
    made = product(cc, people["editor"], sku)
    inventory = cat_rpc.InventoryStub(cc)
    inventory.PutLocation(cat.Location(code=location, name="Centre " + location), metadata=md(people["editor"]))
    if quantity:
        inventory.Restock(cat.RestockRequest(product_id=made.id, location_code=location, quantity=quantity,
                                             reason="initial"), metadata=md(people["editor"]))
    if threshold:
        inventory.SetReorderThreshold(cat.SetReorderThresholdRequest(
            product_id=made.id, location_code=location, threshold=threshold), metadata=md(people["editor"]))
    return made


def test_products_round_trip_exact_prices_and_verbatim_text(cc, people):
    tricky = "Steel coil 'A'; DROP TABLE products; -- \u00e7\u00e3o"
    made = product(cc, people["editor"], "COIL-1", price="1234567890.1234", name=tricky, brand="Acme",
                   attributes={"gauge": "0.5mm", "quote": "'\""})
    assert made.price.amount == "1234567890.1234" and made.name == tricky
    stub = cat_rpc.ProductsStub(cc)
    by_sku = stub.GetProduct(cat.GetProductRequest(sku="COIL-1"), metadata=md(people["viewer"]))
    assert by_sku.id == made.id and by_sku.attributes["quote"] == "'\""
    assert fails(lambda: product(cc, people["editor"], "COIL-1")).code() == grpc.StatusCode.ALREADY_EXISTS
    for bad in ["-1", "abc", "1.23456", "1e5", "", "NaN", "12,5"]:
        assert fails(lambda: product(cc, people["editor"], f"BAD-{bad}", price=bad)).code() == (
            grpc.StatusCode.INVALID_ARGUMENT), bad
    assert fails(lambda: stub.GetProduct(cat.GetProductRequest(id="nope"), metadata=md(people["viewer"]))).code() == (
        grpc.StatusCode.INVALID_ARGUMENT)


def test_counts_past_int64_and_over_long_text_are_invalid_argument(cc, people):
    made = stocked(cc, people, "HUGE-1", 5)
    inventory = cat_rpc.InventoryStub(cc)
    editor = md(people["editor"])
    # on_hand + quantity would pass 2^63 - 1: refused, not a crashed process.
    huge = fails(lambda: inventory.Restock(cat.RestockRequest(
        product_id=made.id, location_code="1101", quantity=2**63 - 1, reason="x"), metadata=editor))
    assert huge.code() == grpc.StatusCode.INVALID_ARGUMENT and "largest" in huge.details()
    adjust = fails(lambda: inventory.AdjustStock(cat.AdjustStockRequest(
        product_id=made.id, location_code="1101", delta=2**63 - 1, reason="x"), metadata=editor))
    assert adjust.code() == grpc.StatusCode.INVALID_ARGUMENT
    levels = inventory.GetStock(cat.GetStockRequest(product_id=made.id), metadata=editor).levels
    assert [level.on_hand for level in levels] == [5]
    # Lengths as PostgreSQL counts them (code points: "\U0001F44D\U0001F3FD" is two), checked
    # before the CHECK constraints could answer FAILED_PRECONDITION.
    thumbs = "\U0001F44D\U0001F3FD"
    for sku, name in [("S" * 65, "n"), ("LONG-NAME", "n" * 301), ("EMOJI-NAME", thumbs * 151)]:
        refused = fails(lambda: product(cc, people["editor"], sku, name=name))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, (sku, refused.details())
        assert "at most" in refused.details()
    assert product(cc, people["editor"], "S" * 64, name=thumbs * 150).name == thumbs * 150
    stub = cat_rpc.ProductsStub(cc)
    renamed = fails(lambda: stub.UpdateProduct(cat.UpdateProductRequest(
        product=cat.Product(id=made.id, name="n" * 301), update_mask=["name"]), metadata=editor))
    assert renamed.code() == grpc.StatusCode.INVALID_ARGUMENT
    blank = fails(lambda: stub.UpdateProduct(cat.UpdateProductRequest(
        product=cat.Product(id=made.id, name="  "), update_mask=["name"]), metadata=editor))
    assert blank.code() == grpc.StatusCode.INVALID_ARGUMENT
    categories = cat_rpc.CategoriesStub(cc)
    category = fails(lambda: categories.CreateCategory(cat.CreateCategoryRequest(name=thumbs * 101), metadata=editor))
    assert category.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_roles_tokens_and_tenants_are_enforced(cc, people):
    stub = cat_rpc.ProductsStub(cc)
    assert fails(lambda: product(cc, people["viewer"], "VIEWER-1")).code() == grpc.StatusCode.PERMISSION_DENIED
    assert fails(lambda: stub.ListProducts(cat.ListProductsRequest())).code() == grpc.StatusCode.UNAUTHENTICATED
    assert fails(lambda: stub.ListProducts(cat.ListProductsRequest(), metadata=md("x.y.z"))).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    mine = product(cc, people["editor"], "PRIVATE-1")
    theirs = fails(lambda: stub.GetProduct(cat.GetProductRequest(id=mine.id), metadata=md(people["rival"])))
    assert theirs.code() == grpc.StatusCode.NOT_FOUND
    archive = fails(lambda: stub.ArchiveProduct(cat.ArchiveProductRequest(id=mine.id), metadata=md(people["rival"])))
    assert archive.code() == grpc.StatusCode.NOT_FOUND
    # The rival tenant may use the same SKU.
    assert product(cc, people["rival"], "PRIVATE-1").id != mine.id


def test_listing_filters_pages_and_updates(cc, people):
    stub = cat_rpc.ProductsStub(cc)
    for index in range(7):
        product(cc, people["editor"], f"LIST-{index}", price=f"{index}.50", brand="Pager", name=f"Roll {index}")
    seen, token = [], ""
    while True:
        page = stub.ListProducts(cat.ListProductsRequest(page_size=3, page_token=token, brand="Pager"),
                                 metadata=md(people["viewer"]))
        seen += [p.sku for p in page.products]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"LIST-{index}" for index in range(7)]
    priced = stub.ListProducts(cat.ListProductsRequest(brand="Pager", min_price="2", max_price="4.50"),
                               metadata=md(people["viewer"]))
    assert [p.sku for p in priced.products] == ["LIST-2", "LIST-3", "LIST-4"]
    named = stub.ListProducts(cat.ListProductsRequest(name_contains="ROLL 5"), metadata=md(people["viewer"]))
    assert [p.sku for p in named.products] == ["LIST-5"]
    first = priced.products[0]
    changed = stub.UpdateProduct(cat.UpdateProductRequest(
        product=cat.Product(id=first.id, name="Renamed", brand="Ignored"), update_mask=["name"]),
        metadata=md(people["editor"]))
    assert (changed.name, changed.brand, changed.price.amount) == ("Renamed", "Pager", "2.5000")
    stub.ArchiveProduct(cat.ArchiveProductRequest(id=first.id), metadata=md(people["editor"]))
    visible = stub.ListProducts(cat.ListProductsRequest(brand="Pager"), metadata=md(people["viewer"]))
    assert first.sku not in [p.sku for p in visible.products]


def test_category_moves_cannot_make_a_cycle(cc, people):
    stub = cat_rpc.CategoriesStub(cc)
    top = stub.CreateCategory(cat.CreateCategoryRequest(name="Steel"), metadata=md(people["editor"]))
    mid = stub.CreateCategory(cat.CreateCategoryRequest(name="Flat", parent_id=top.id), metadata=md(people["editor"]))
    leaf = stub.CreateCategory(cat.CreateCategoryRequest(name="Coils", parent_id=mid.id), metadata=md(people["editor"]))
    cycle = fails(lambda: stub.MoveCategory(cat.MoveCategoryRequest(id=top.id, new_parent_id=leaf.id),
                                            metadata=md(people["editor"])))
    assert cycle.code() == grpc.StatusCode.FAILED_PRECONDITION
    moved = stub.MoveCategory(cat.MoveCategoryRequest(id=leaf.id), metadata=md(people["editor"]))
    assert moved.parent_id == ""


def test_concurrent_reservations_never_oversell(suite, cc, people):
    made = stocked(cc, people, "SCARCE-1", 10)
    stub = cat_rpc.ReservationsStub(cc)

    def reserve(index):
        try:
            stub.Reserve(cat.ReserveRequest(order_id=f"scarce-{index}", lines=[
                cat.ReservationLine(product_id=made.id, location_code="1101", quantity=1)]), metadata=md(people["editor"]))
            return "ok"
        except grpc.RpcError as error:
            return error.code()

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(reserve, range(40)))
    assert outcomes.count("ok") == 10
    assert all(outcome == grpc.StatusCode.FAILED_PRECONDITION for outcome in outcomes if outcome != "ok")
    level = cat_rpc.InventoryStub(cc).GetStock(cat.GetStockRequest(product_id=made.id), metadata=md(people["viewer"]))
    assert (level.levels[0].on_hand, level.levels[0].reserved, level.levels[0].available) == (10, 10, 0)
    # The totals equal the sums of the insert-only movements.
    check = suite.psql(
        "SELECT bool_and(s.on_hand = m.on_hand AND s.reserved = m.reserved) FROM catalog.stock s JOIN ("
        " SELECT tenant_id, product_id, location_code, sum(on_hand_delta) on_hand, sum(reserved_delta) reserved"
        " FROM catalog.stock_movements GROUP BY 1, 2, 3) m USING (tenant_id, product_id, location_code)")
    assert check == "t"
    with pytest.raises(Exception):
        suite.psql("SET ROLE catalog_svc; DELETE FROM catalog.stock_movements")


def test_lines_in_opposite_orders_do_not_deadlock_and_multi_line_is_all_or_nothing(cc, people):
    a = stocked(cc, people, "PAIR-A", 100)
    b = stocked(cc, people, "PAIR-B", 100)
    stub = cat_rpc.ReservationsStub(cc)

    def reserve(index):
        first, second = (a, b) if index % 2 else (b, a)
        try:
            stub.Reserve(cat.ReserveRequest(order_id=f"pair-{index}", lines=[
                cat.ReservationLine(product_id=first.id, location_code="1101", quantity=1),
                cat.ReservationLine(product_id=second.id, location_code="1101", quantity=1)]),
                metadata=md(people["editor"]))
            return "ok"
        except grpc.RpcError as error:
            return error.code()

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(reserve, range(60))) == {"ok"}
    short = fails(lambda: stub.Reserve(cat.ReserveRequest(order_id="too-much", lines=[
        cat.ReservationLine(product_id=a.id, location_code="1101", quantity=1),
        cat.ReservationLine(product_id=b.id, location_code="1101", quantity=1000)]), metadata=md(people["editor"])))
    assert short.code() == grpc.StatusCode.FAILED_PRECONDITION and "Not enough stock" in short.details()
    stock_a = cat_rpc.InventoryStub(cc).GetStock(cat.GetStockRequest(product_id=a.id), metadata=md(people["viewer"]))
    assert stock_a.levels[0].reserved == 60
    # A retried multi-line Reserve (lines sent in the other order, one product twice) answers
    # with exactly the reservation the first call made: same id, expiry, lines and their order.
    lines = [cat.ReservationLine(product_id=b.id, location_code="1101", quantity=2),
             cat.ReservationLine(product_id=a.id, location_code="1101", quantity=1),
             cat.ReservationLine(product_id=b.id, location_code="1101", quantity=1)]
    first = stub.Reserve(cat.ReserveRequest(order_id="pair-retry", lines=lines), metadata=md(people["editor"]))
    again = stub.Reserve(cat.ReserveRequest(order_id="pair-retry", lines=lines[::-1]), metadata=md(people["editor"]))
    assert first == again
    assert sorted((line.product_id, line.quantity) for line in first.lines) == sorted([(a.id, 1), (b.id, 3)])
    assert [line.product_id for line in first.lines] == sorted(line.product_id for line in first.lines)


def test_reservation_lifecycle_is_idempotent(cc, people):
    made = stocked(cc, people, "LIFE-1", 5)
    stub = cat_rpc.ReservationsStub(cc)
    request = cat.ReserveRequest(order_id="life-1", lines=[
        cat.ReservationLine(product_id=made.id, location_code="1101", quantity=2)])
    first = stub.Reserve(request, metadata=md(people["editor"]))
    again = stub.Reserve(request, metadata=md(people["editor"]))
    assert first == again and first.status == "reserved"
    committed = stub.Commit(cat.CommitReservationRequest(order_id="life-1"), metadata=md(people["editor"]))
    assert committed.status == "committed"
    assert stub.Commit(cat.CommitReservationRequest(order_id="life-1"), metadata=md(people["editor"])).status == (
        "committed")
    assert fails(lambda: stub.Release(cat.ReleaseReservationRequest(order_id="life-1"),
                                      metadata=md(people["editor"]))).code() == grpc.StatusCode.FAILED_PRECONDITION
    level = cat_rpc.InventoryStub(cc).GetStock(cat.GetStockRequest(product_id=made.id), metadata=md(people["viewer"]))
    assert (level.levels[0].on_hand, level.levels[0].reserved) == (3, 0)
    stub.Reserve(cat.ReserveRequest(order_id="life-2", lines=[
        cat.ReservationLine(product_id=made.id, location_code="1101", quantity=3)]), metadata=md(people["editor"]))
    assert stub.Release(cat.ReleaseReservationRequest(order_id="life-2"), metadata=md(people["editor"])).status == (
        "released")
    level = cat_rpc.InventoryStub(cc).GetStock(cat.GetStockRequest(product_id=made.id), metadata=md(people["viewer"]))
    assert (level.levels[0].on_hand, level.levels[0].reserved, level.levels[0].available) == (3, 0, 3)
    adjust = fails(lambda: cat_rpc.InventoryStub(cc).AdjustStock(cat.AdjustStockRequest(
        product_id=made.id, location_code="1101", delta=-4, reason="count"), metadata=md(people["editor"])))
    assert adjust.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_expired_reservations_are_swept_back_into_stock(cc, people):
    made = stocked(cc, people, "TTL-1", 4)
    stub = cat_rpc.ReservationsStub(cc)
    stub.Reserve(cat.ReserveRequest(order_id="ttl-1", ttl_seconds=1, lines=[
        cat.ReservationLine(product_id=made.id, location_code="1101", quantity=4)]), metadata=md(people["editor"]))
    deadline = time.time() + 10
    while time.time() < deadline:
        level = cat_rpc.InventoryStub(cc).GetStock(cat.GetStockRequest(product_id=made.id), metadata=md(people["viewer"]))
        if level.levels[0].reserved == 0:
            break
        time.sleep(0.2)
    assert level.levels[0].available == 4
    late = fails(lambda: stub.Commit(cat.CommitReservationRequest(order_id="ttl-1"), metadata=md(people["editor"])))
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_reserving_an_order_again_depends_on_its_reservation(cc, people):
    made = stocked(cc, people, "AGAIN-1", 6)
    stub = cat_rpc.ReservationsStub(cc)
    editor = md(people["editor"])

    def reserve(order, quantity, ttl=0):
        return stub.Reserve(cat.ReserveRequest(order_id=order, ttl_seconds=ttl, lines=[
            cat.ReservationLine(product_id=made.id, location_code="1101", quantity=quantity)]), metadata=editor)

    def reserved():
        level = cat_rpc.InventoryStub(cc).GetStock(cat.GetStockRequest(product_id=made.id), metadata=md(people["viewer"]))
        return level.levels[0].reserved

    # Other lines for an active reservation are not answered with the old one.
    first = reserve("again-1", 2, ttl=2)
    other = fails(lambda: reserve("again-1", 3))
    assert other.code() == grpc.StatusCode.ALREADY_EXISTS and "other lines" in other.details()
    assert reserved() == 2
    # Once it has expired (the sweeper runs every 0.2 s), the order can be reserved again.
    deadline = time.time() + 10
    while reserved() != 0 and time.time() < deadline:
        time.sleep(0.1)
    assert reserved() == 0
    renewed = reserve("again-1", 5)
    assert renewed.status == "reserved" and renewed.id != first.id and renewed.expires_at_ms > time.time() * 1000
    assert reserved() == 5
    # Released: likewise; committed: never again.
    stub.Release(cat.ReleaseReservationRequest(order_id="again-1"), metadata=editor)
    assert reserve("again-1", 6).status == "reserved" and reserved() == 6
    stub.Commit(cat.CommitReservationRequest(order_id="again-1"), metadata=editor)
    late = fails(lambda: reserve("again-1", 6))
    assert late.code() == grpc.StatusCode.FAILED_PRECONDITION and "committed" in late.details()
    assert reserved() == 0


def test_low_stock_events_stream_in_order_and_resume_from_a_cursor(cc, people):
    made = stocked(cc, people, "WATCH-1", 10, location="22D1", threshold=5)
    stub = cat_rpc.ReservationsStub(cc)
    stub.Reserve(cat.ReserveRequest(order_id="watch-1", lines=[
        cat.ReservationLine(product_id=made.id, location_code="22D1", quantity=6)]), metadata=md(people["editor"]))
    events = cat_rpc.EventsStub(cc)

    def collect(after, until):
        got = []
        call = events.WatchEvents(cat.WatchEventsRequest(after_cursor=after), metadata=md(people["viewer"]), timeout=10)
        for event in call:
            got.append(event)
            if until(got):
                call.cancel()
                break
        return got

    everything = collect("", lambda got: any(e.type == "low_stock" and made.id in e.payload_json for e in got))
    cursors = [int(e.cursor) for e in everything]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    low = next(e for e in everything if e.type == "low_stock" and made.id in e.payload_json)
    assert json.loads(low.payload_json)["available"] == 4
    # Resuming after the low-stock event yields only what came later.
    stub.Release(cat.ReleaseReservationRequest(order_id="watch-1"), metadata=md(people["editor"]))
    later = collect(low.cursor, lambda got: any(e.type == "reservation_released" for e in got))
    assert all(int(e.cursor) > int(low.cursor) for e in later)
    assert any(e.type == "reservation_released" and "watch-1" in e.payload_json for e in later)
    garbage = fails(lambda: list(events.WatchEvents(cat.WatchEventsRequest(after_cursor="'; --"),
                                                   metadata=md(people["viewer"]), timeout=5)))
    assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT


def start_suite_gateway(tmp_path, identity, catalog_port):
    from identity_fixtures import free_port as _free
    path = tmp_path / f"gateway-{_free()}.conf"
    path.write_text(
        f"route identity.v1.* 127.0.0.1:{identity.port}\n"
        f"route catalog.v1.* 127.0.0.1:{catalog_port}\n"
        f"auth identity 127.0.0.1:{identity.port}\n")
    return ServerProcess("gateway", "--config", str(path))


def test_the_gateway_authenticates_at_the_edge_and_fans_out_the_overview(tmp_path, identity, catalog, cc, people):
    from gateway.v1 import overview_pb2, overview_pb2_grpc

    made = stocked(cc, people, "OVERVIEW-1", 3, threshold=10)
    gateway = start_suite_gateway(tmp_path, identity, catalog.port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            products = cat_rpc.ProductsStub(channel)
            assert fails(lambda: products.ListProducts(cat.ListProductsRequest())).code() == (
                grpc.StatusCode.UNAUTHENTICATED)
            tampered = people["viewer"][:-4] + ("AAAA" if not people["viewer"].endswith("AAAA") else "BBBB")
            assert fails(lambda: products.ListProducts(cat.ListProductsRequest(), metadata=md(tampered))).code() == (
                grpc.StatusCode.UNAUTHENTICATED)
            # Login passes without a token; the token it returns works through the gateway.
            session = id_rpc.SessionsStub(channel).Login(idp.LoginRequest(
                tenant_id=json.loads(__import__("base64").urlsafe_b64decode(
                    people["viewer"].split(".")[1] + "==="))["tenant"], email="viewer@shop.test", password=STRONG))
            assert products.GetProduct(cat.GetProductRequest(id=made.id), metadata=md(session.access_token)).id == made.id
            # Roles are still the services' business: a viewer cannot write through the gateway.
            assert fails(lambda: product(channel, session.access_token, "VIA-GW")).code() == (
                grpc.StatusCode.PERMISSION_DENIED)
            # An API key works through the gateway too: exchanged at the edge for an access token.
            key = id_rpc.ApiKeysStub(channel).CreateApiKey(
                idp.CreateApiKeyRequest(name="reporting", role=idp.ROLE_VIEWER), metadata=md(people["admin"])).secret
            assert products.GetProduct(cat.GetProductRequest(id=made.id), metadata=md(key)).id == made.id
            assert fails(lambda: product(channel, key, "KEY-WRITE")).code() == grpc.StatusCode.PERMISSION_DENIED
            assert fails(lambda: products.GetProduct(cat.GetProductRequest(id=made.id), metadata=md(key + "x"))).code() == (
                grpc.StatusCode.UNAUTHENTICATED)
            overview = overview_pb2_grpc.OverviewStub(channel).GetTenantOverview(
                overview_pb2.GetTenantOverviewRequest(), metadata=md(people["viewer"]))
            assert [p.code for p in overview.parts] == [0, 0, 0]
            assert overview.active_users >= 3 and overview.active_users_by_role["editor"] >= 1
            assert overview.active_products >= 1
            assert any(item.product_id == made.id and item.available == 3 for item in overview.low_stock)
    finally:
        gateway.stop()


def test_exchange_api_key_is_public_at_the_gateway_as_at_identity(tmp_path, identity, catalog, cc, people):
    # Its credential is the API key in the message, as Login's is the password; the proto
    # declares it public and the gateway takes its public methods from the protos.
    made = stocked(cc, people, "EXCHANGE-1", 3, threshold=10)
    gateway = start_suite_gateway(tmp_path, identity, catalog.port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            api_keys = id_rpc.ApiKeysStub(channel)
            key = api_keys.CreateApiKey(
                idp.CreateApiKeyRequest(name="exchange", role=idp.ROLE_VIEWER), metadata=md(people["admin"])).secret
            exchanged = api_keys.ExchangeApiKey(idp.ExchangeApiKeyRequest(api_key=key))
            products = cat_rpc.ProductsStub(channel)
            assert products.GetProduct(cat.GetProductRequest(id=made.id), metadata=md(exchanged.access_token)).id == made.id
            assert fails(lambda: api_keys.ExchangeApiKey(idp.ExchangeApiKeyRequest(api_key=key + "x"))).code() == (
                grpc.StatusCode.UNAUTHENTICATED)
            # The methods next to it still need a token.
            assert fails(lambda: api_keys.ListApiKeys(idp.ListApiKeysRequest())).code() == grpc.StatusCode.UNAUTHENTICATED
            # The gateway's own overview accepts the key too, and forwards the token it was
            # exchanged for to the services it asks.
            from gateway.v1 import overview_pb2, overview_pb2_grpc

            overview = overview_pb2_grpc.OverviewStub(channel).GetTenantOverview(
                overview_pb2.GetTenantOverviewRequest(), metadata=md(key))
            assert [p.code for p in overview.parts] == [0, 0, 0] and overview.active_products >= 1
    finally:
        gateway.stop()


def test_the_overview_returns_partial_results_with_one_backend_down(tmp_path, identity, people):
    from gateway.v1 import overview_pb2, overview_pb2_grpc
    from identity_fixtures import free_port as _free

    gateway = start_suite_gateway(tmp_path, identity, _free())
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            start = time.monotonic()
            overview = overview_pb2_grpc.OverviewStub(channel).GetTenantOverview(
                overview_pb2.GetTenantOverviewRequest(), metadata=md(people["viewer"]), timeout=5)
            assert time.monotonic() - start < 3
        parts = {p.part: p for p in overview.parts}
        assert parts["users"].code == 0 and overview.active_users >= 3
        assert parts["products"].code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert parts["low_stock"].code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert overview.active_products == 0
    finally:
        gateway.stop()


def test_the_overview_returns_partial_results_before_the_callers_deadline_with_one_backend_hung(
        tmp_path, identity, people):
    import socket
    from gateway.v1 import overview_pb2, overview_pb2_grpc

    hung = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    gateway = start_suite_gateway(tmp_path, identity, hung.getsockname()[1])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            start = time.monotonic()
            overview = overview_pb2_grpc.OverviewStub(channel).GetTenantOverview(
                overview_pb2.GetTenantOverviewRequest(), metadata=md(people["viewer"]), timeout=1)
            assert time.monotonic() - start < 1
        parts = {p.part: p for p in overview.parts}
        assert parts["users"].code == 0 and overview.active_users >= 3
        for name in ("products", "low_stock"):
            assert parts[name].code in (grpc.StatusCode.DEADLINE_EXCEEDED.value[0], grpc.StatusCode.UNAVAILABLE.value[0])
    finally:
        gateway.stop()
        hung.close()


HEADER = "data|cod_cliente|es_centro|tipo_material|origem|cod_produto|lote|dias_em_estoque|produto|grupo_mercadoria|es_totalestoque|SKU"
CSV = "\n".join([
    HEADER,
    "2024-03-31|2040|1101|Materia Prima|01|P-100|L1|12|Bobina|Laminado a Frio|10,500|SKU-1",
    "31/03/2024|1010|22D1|Produto Acabado|02|P-200|L2|45|Rolo|Laminado a Quente|3.250|SKU-2",
    "2024-03-31|1010|22D1|Produto Acabado|02|P-200|L3|75|Chapa|Laminado a Quente|1.234,5|SKU-2",
    "2024-03-31|3000|32D1|Materia Prima|01|P-100|L4|200|Bobina|Laminado a Frio|7|SKU-1",
    "2024-02-30|1010|1101|Materia Prima|01|P-100|L5|1|Bobina|Laminado a Frio|1|SKU-1",
    "2024-03-31|1010|1101|Materia Prima|01|P-100|L6|-3|Bobina|Laminado a Frio|1|SKU-1",
    "2024-03-31|1010|1101|Materia Prima|01|P-100|L7|3|Bobina|Laminado a Frio|lots|SKU-1",
    "2024-03-31|1010|1101|too|few",
    "2024-03-31|1010|1101|Materia Prima|01|P-100|L8'; DROP TABLE stock_snapshots; --|5|Bobina|Laminado a Frio|2|SKU-1",
    "2024-03-31|ABC|1101|Materia Prima|01|P-100|L9|5|Bobina|Laminado a Frio|2|SKU-1",
    "2024-03-31|1010|1101|Materia Prima|01|P-100|L10|5|Bobina|Laminado a Frio|-1|SKU-1",
    "",
])


def chunks(text, size=37):
    data = text.encode()
    for start in range(0, len(data), size):
        yield cat.CsvChunk(data=data[start:start + size])


def test_csv_imports_report_bad_lines_load_good_ones_and_repeat_idempotently(cc, people):
    stub = cat_rpc.StockAnalyticsStub(cc)
    report = stub.ImportCsv(chunks(CSV), metadata=md(people["editor"]))
    assert report.rows_loaded == 5 and report.rows_rejected == 6
    assert [e.line for e in report.errors] == [6, 7, 8, 9, 11, 12]
    assert "cod_cliente" in report.errors[4].reason and "tonnes" in report.errors[5].reason
    assert "not a date" in report.errors[0].reason and "days" in report.errors[1].reason
    assert "tonnes" in report.errors[2].reason and "12 fields" in report.errors[3].reason
    assert report.clients_created == 3
    clients = stub.ListStockClients(cat.ListStockClientsRequest(), metadata=md(people["viewer"])).clients
    assert [(c.code, c.name) for c in clients] == [("1010", "Cliente 1"), ("2040", "Cliente 2"), ("3000", "Cliente 3")]
    totals = stub.GetStockTotals(cat.StockTotalsRequest(group_by=cat.STOCK_DIMENSION_CLIENT), metadata=md(people["viewer"]))
    assert totals.snapshot_date == "2024-03-31"
    by_client = {t.key: (t.label, t.total_tonnes) for t in totals.totals}
    assert by_client["1010"] == ("Cliente 1", "1239.750") and by_client["2040"] == ("Cliente 2", "10.500")
    again = stub.ImportCsv(chunks(CSV, size=4096), metadata=md(people["editor"]))
    assert (again.rows_loaded, again.rows_rejected, again.clients_created) == (5, 6, 0)
    assert stub.GetStockTotals(cat.StockTotalsRequest(group_by=cat.STOCK_DIMENSION_CLIENT),
                               metadata=md(people["viewer"])).totals == totals.totals
    aging = stub.GetStockAging(cat.StockAgingRequest(), metadata=md(people["viewer"]))
    assert [(b.bucket, b.total_tonnes, b.rows) for b in aging.buckets] == [
        ("0-30", "12.500", 2), ("31-60", "3.250", 1), ("61-90", "1234.500", 1), ("over 90", "7.000", 1)]
    centre = stub.GetStockAging(cat.StockAgingRequest(centre="22D1"), metadata=md(people["viewer"]))
    assert [b.rows for b in centre.buckets] == [0, 1, 1, 0]
    material = stub.GetStockTotals(cat.StockTotalsRequest(group_by=cat.STOCK_DIMENSION_MATERIAL_TYPE),
                                   metadata=md(people["viewer"]))
    assert {t.key: t.total_tonnes for t in material.totals} == {"Produto Acabado": "1237.750", "Materia Prima": "19.500"}


def test_bad_files_and_roles_are_refused(cc, people):
    stub = cat_rpc.StockAnalyticsStub(cc)
    wrong = fails(lambda: stub.ImportCsv(chunks("a|b|c\n1|2|3\n"), metadata=md(people["editor"])))
    assert wrong.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in wrong.details()
    empty = fails(lambda: stub.ImportCsv(iter([]), metadata=md(people["editor"])))
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    viewer = fails(lambda: stub.ImportCsv(chunks(CSV), metadata=md(people["viewer"])))
    assert viewer.code() == grpc.StatusCode.PERMISSION_DENIED
    other = stub.GetStockAging(cat.StockAgingRequest(), metadata=md(people["rival"]))
    assert other.snapshot_date == "" and list(other.buckets) == []


def test_rows_stream_in_through_client_streaming(cc, people):
    stub = cat_rpc.StockAnalyticsStub(cc)
    rows = [cat.StockSnapshotRow(date="2024-04-01", client_code=str(5000 + i % 3), centre="1101",
                                 material_type="Materia Prima", origin="01", product_code=f"P-{i % 7}", lot=f"S{i}",
                                 days_in_stock=i % 120, product_form="Bobina", merchandise_group="Laminado a Frio",
                                 total_tonnes="1.001", sku="SKU-X") for i in range(2500)]
    rows.insert(10, cat.StockSnapshotRow(date="yesterday", client_code="5000", centre="1101", product_code="P",
                                         total_tonnes="1"))
    report = stub.ImportSnapshots(iter(rows), metadata=md(people["editor"]))
    assert (report.rows_loaded, report.rows_rejected) == (2500, 1)
    assert report.errors[0].line == 11
    totals = stub.GetStockTotals(cat.StockTotalsRequest(snapshot_date="2024-04-01", group_by=cat.STOCK_DIMENSION_PRODUCT),
                                 metadata=md(people["viewer"]))
    assert sum(t.rows for t in totals.totals) == 2500
    assert sum(float(t.total_tonnes) for t in totals.totals) == pytest.approx(2502.5)


def test_api_keys_work_against_the_catalog_directly(channel, cc, people):
    key = id_rpc.ApiKeysStub(channel).CreateApiKey(
        idp.CreateApiKeyRequest(name="direct", role=idp.ROLE_EDITOR), metadata=md(people["admin"])).secret
    made = product(cc, key, "BY-API-KEY")
    assert cat_rpc.ProductsStub(cc).GetProduct(cat.GetProductRequest(id=made.id), metadata=md(people["viewer"])).sku == (
        "BY-API-KEY")
    wrong = key[:-2] + ("zz" if not key.endswith("zz") else "yy")  # always another key
    assert fails(lambda: product(cc, wrong, "BAD-KEY")).code() == grpc.StatusCode.UNAUTHENTICATED


def test_killing_an_identity_replica_under_load_loses_no_idempotent_call(tmp_path, suite, identity, people):
    from identity_fixtures import free_port as _free

    from identity_fixtures import identity_env

    spare = ServerProcess("identity", env=identity_env(suite))
    path = tmp_path / f"gateway-{_free()}.conf"
    path.write_text(
        f"route identity.v1.* 127.0.0.1:{identity.port} 127.0.0.1:{spare.port}\n"
        f"auth identity 127.0.0.1:{identity.port}\nhealth-interval-ms 200\n")
    gateway = ServerProcess("gateway", "--config", str(path))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            users = id_rpc.UsersStub(channel)
            failures, calls, done = [], [0], threading.Event()

            def load():
                while not done.is_set():
                    try:
                        users.ListUsers(idp.ListUsersRequest(page_size=5), metadata=md(people["viewer"]), timeout=5)
                        calls[0] += 1
                    except grpc.RpcError as error:
                        failures.append((error.code(), error.details()))

            workers = [threading.Thread(target=load) for _ in range(4)]
            for worker in workers:
                worker.start()
            time.sleep(0.7)
            spare.process.kill()
            time.sleep(1.5)
            done.set()
            for worker in workers:
                worker.join()
            assert failures == [] and calls[0] > 50
            lines = [json.loads(l) for l in gateway.log_lines if '"access"' in l]
            listed = [l for l in lines if l["rpc.method"] == "/identity.v1.Users/ListUsers"]
            assert {l["replica"] for l in listed} == {f"127.0.0.1:{identity.port}", f"127.0.0.1:{spare.port}"}
            # CreateUser is not idempotent: one attempt each, even with a replica gone.
            users.CreateUser(idp.CreateUserRequest(email="once@shop.test", role=idp.ROLE_VIEWER, password=STRONG),
                             metadata=md(people["admin"]))
            time.sleep(0.2)
            created = [json.loads(l) for l in gateway.log_lines if '"access"' in l and "CreateUser" in l]
            assert created and all(l["attempts"] == "1" for l in created)
    finally:
        gateway.stop()
        spare.stop()
