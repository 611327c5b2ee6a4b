"""The catalog's stock BI data end to end: the real `catalog` executable on a throwaway cluster,
tokens minted here and verified through AUTH_PUBLIC_KEYS, files from the real `catalog-datagen`."""

import base64
import collections
import concurrent.futures
import json
import random
import subprocess
import uuid
from decimal import Decimal

import grpc
import pytest
from catalog.v1 import catalog_pb2 as cat
from catalog.v1 import catalog_pb2_grpc as cat_rpc
from catalog.v1 import stock_bi_pb2 as bi
from catalog.v1 import stock_bi_pb2_grpc as bi_rpc
from catalog_tokens import TokenMinter, b64url, bearer
from conftest import BIN_DIR, ServerProcess
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from identity_fixtures import suite  # noqa: F401

HEADER = ("data|cod_cliente|es_centro|tipo_material|origem|cod_produto|lote|dias_em_estoque|produto|"
          "grupo_mercadoria|es_totalestoque|SKU")
TENANT = str(uuid.uuid4())
RIVAL = str(uuid.uuid4())
MINTER = TokenMinter()


@pytest.fixture(scope="module")
def catalog(suite):
    server = ServerProcess("catalog", "--sweep-interval", "0.2", env={
        "DATABASE_URL": suite.secrets["CATALOG_DATABASE_URL"], "AUTH_PUBLIC_KEYS": MINTER.public_keys,
        "IDENTITY_ADDRESS": ""})
    yield server
    assert server.alive(), "catalog died during the tests:\n" + "".join(server.log_lines[-50:])
    assert server.stop() == 0


@pytest.fixture(scope="module")
def cc(catalog):
    with grpc.insecure_channel(f"127.0.0.1:{catalog.port}") as ch:
        yield ch


def md(role, tenant=TENANT):
    return bearer(MINTER.token(tenant, role))


def fails(call):
    with pytest.raises(grpc.RpcError) as failure:
        call()
    return failure.value


def chunks(data, size=7919):
    for start in range(0, len(data), size):
        yield bi.StockCsvChunk(data=data[start:start + size])


def import_csv(cc, data, role="editor", tenant=TENANT, size=7919):
    return bi_rpc.StockBIStub(cc).ImportStockCsv(chunks(data, size), metadata=md(role, tenant))


def generated(tmp_path, *args):
    subprocess.run([str(BIN_DIR / "catalog-datagen"), "--out", str(tmp_path), *args], check=True,
                   capture_output=True, timeout=120)
    return (tmp_path / "estoque.csv").read_bytes()


def aging_bucket(days):
    return 0 if days <= 30 else 1 if days <= 60 else 2 if days <= 90 else 3


def test_tokens_missing_expired_tampered_or_foreign_are_unauthenticated(cc):
    stub = bi_rpc.StockBIStub(cc)

    def aging(metadata):
        return fails(lambda: stub.StockAging(bi.StockAgingRequest(), metadata=metadata)).code()

    assert aging(()) == grpc.StatusCode.UNAUTHENTICATED
    expired = MINTER.token(TENANT, "admin", issued=1_000_000_000, lifetime=600)
    assert aging(bearer(expired)) == grpc.StatusCode.UNAUTHENTICATED
    # Payload changed after signing (viewer → admin): the signature no longer matches.
    head, payload, signature = MINTER.token(TENANT, "viewer").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    tampered = ".".join([head, b64url(json.dumps(claims).encode()), signature])
    assert aging(bearer(tampered)) == grpc.StatusCode.UNAUTHENTICATED
    other_key = MINTER.token(TENANT, "admin", key=Ed25519PrivateKey.generate())
    assert aging(bearer(other_key)) == grpc.StatusCode.UNAUTHENTICATED
    assert aging(bearer(MINTER.token(TENANT, "admin", kid="unknown-kid"))) == grpc.StatusCode.UNAUTHENTICATED
    none_alg = MINTER.token(TENANT, "admin", header={"alg": "none", "typ": "JWT", "kid": MINTER.kid})
    assert aging(bearer(none_alg)) == grpc.StatusCode.UNAUTHENTICATED
    assert aging(bearer(MINTER.token(TENANT, "admin", issuer="someone-else"))) == grpc.StatusCode.UNAUTHENTICATED
    assert aging((("authorization", "Basic dXNlcjpwYXNz"),)) == grpc.StatusCode.UNAUTHENTICATED
    # A valid viewer reads but may not import, on both import methods.
    assert stub.StockAging(bi.StockAgingRequest(), metadata=md("viewer")).date == ""
    denied = fails(lambda: import_csv(cc, (HEADER + "\n").encode(), role="viewer"))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    denied = fails(lambda: stub.ImportStockSnapshots(iter([bi.StockSnapshotRow()]), metadata=md("viewer")))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    # Product writes follow the same rules.
    products = cat_rpc.ProductsStub(cc)
    write = fails(lambda: products.CreateProduct(cat.CreateProductRequest(product=cat.Product(
        sku="V-1", name="V", price=cat.Money(amount="1", currency="EUR"))), metadata=md("viewer")))
    assert write.code() == grpc.StatusCode.PERMISSION_DENIED


def test_generated_csv_with_corrupted_lines_reports_exactly_those_lines(suite, cc, tmp_path):
    lines = generated(tmp_path).decode().split("\n")
    assert lines[0] == HEADER and lines[-1] == ""
    sql_sku = "'; DROP TABLE stock_snapshots; -- ação"
    fields = lines[1200 - 1].split("|")
    fields[11] = sql_sku
    lines[1200 - 1] = "|".join(fields)
    corrupt = {
        5: lambda f: f[:11],                                           # a field missing
        100: lambda f: ["2024-02-30"] + f[1:],                         # no such day
        250: lambda f: f[:10] + ["-3.5", f[11]],                       # negative tonnes
        400: lambda f: [f[0], "abc"] + f[2:],                          # client code not a number
        777: lambda f: f[:7] + ["x"] + f[8:],                          # days not a number
        901: lambda f: f[:10] + ["1e5", f[11]],                        # exponent notation
        950: lambda f: f[:6] + [""] + f[7:],                           # empty lot
    }
    for number, change in corrupt.items():
        lines[number - 1] = "|".join(change(lines[number - 1].split("|")))
    data = "\n".join(lines).encode()
    # Line 1000: bytes that are not UTF-8.
    raw = data.split(b"\n")
    raw[999] = raw[999].replace(b"|", b"|\xff\xfe", 1)
    data = b"\r\n".join(raw)  # Windows line breaks are fine too.
    bad = set(corrupt) | {1000}
    good_rows = [lines[i].split("|") for i in range(1, len(lines) - 1) if i + 1 not in bad]

    summary = import_csv(cc, data)
    assert summary.rows_read == 1473
    assert summary.rows_rejected == len(bad) and [e.line for e in summary.errors] == sorted(bad)
    reasons = {e.line: e.reason for e in summary.errors}
    assert "12 fields" in reasons[5] and "data" in reasons[100] and "es_totalestoque" in reasons[250]
    assert "cod_cliente" in reasons[400] and "dias_em_estoque" in reasons[777] and "UTF-8" in reasons[1000]
    assert "lote" in reasons[950]
    assert (summary.rows_inserted, summary.rows_updated, summary.rows_unchanged) == (len(good_rows), 0, 0)
    codes = sorted({int(row[1]) for row in good_rows})
    assert summary.clients_created_count == len(codes)
    assert [(c.code, c.name) for c in summary.clients_created] == [
        (str(code), f"Cliente {n}") for n, code in enumerate(codes, 1)]

    # A re-import of the same file changes nothing.
    again = import_csv(cc, data, size=1 << 20)
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, len(good_rows))
    assert again.clients_created_count == 0 and [e.line for e in again.errors] == sorted(bad)

    # Clients page in code order.
    stub = bi_rpc.StockBIStub(cc)
    listed, token = [], ""
    while True:
        page = stub.ListStockClients(bi.ListStockClientsRequest(page_size=7, page_token=token), metadata=md("viewer"))
        listed += [(c.code, c.name) for c in page.clients]
        token = page.next_page_token
        if not token:
            break
    assert listed == [(str(code), f"Cliente {n}") for n, code in enumerate(codes, 1)]

    # Aggregates equal what Python computes from the good rows.
    tonnes = [Decimal(row[10]) for row in good_rows]
    aging = stub.StockAging(bi.StockAgingRequest(), metadata=md("viewer"))
    assert aging.date == "2024-06-30" and Decimal(aging.total_tonnes) == sum(tonnes)
    expected = collections.defaultdict(lambda: [Decimal(0), 0])
    for row in good_rows:
        bucket = expected[aging_bucket(int(row[7]))]
        bucket[0] += Decimal(row[10])
        bucket[1] += 1
    assert [b.label for b in aging.buckets] == ["0-30", "31-60", "61-90", ">90"]
    assert [(Decimal(b.total_tonnes), b.rows) for b in aging.buckets] == [
        (expected[i][0], expected[i][1]) for i in range(4)]
    assert aging.buckets[3].max_days == -1 and aging.buckets[1].min_days == 31
    for dimension, column in ((bi.STOCK_DIMENSION_CLIENT, 1), (bi.STOCK_DIMENSION_PRODUCT, 5),
                              (bi.STOCK_DIMENSION_CENTRE, 2), (bi.STOCK_DIMENSION_MATERIAL_TYPE, 3)):
        totals = stub.StockTotals(bi.StockTotalsRequest(group_by=dimension), metadata=md("viewer"))
        want = collections.defaultdict(Decimal)
        for row in good_rows:
            want[str(int(row[1])) if column == 1 else row[column]] += Decimal(row[10])
        assert {t.key: Decimal(t.total_tonnes) for t in totals.totals} == want, dimension
        amounts = [Decimal(t.total_tonnes) for t in totals.totals]
        assert amounts == sorted(amounts, reverse=True)
    by_client = stub.StockTotals(bi.StockTotalsRequest(group_by=bi.STOCK_DIMENSION_CLIENT), metadata=md("viewer"))
    assert by_client.totals[0].label.startswith("Cliente ")
    # Filters narrow the rows.
    centre = bi.StockFilter(centre="22D1", material_type="Materia Prima")
    narrowed = stub.StockAging(bi.StockAgingRequest(filter=centre), metadata=md("viewer"))
    assert Decimal(narrowed.total_tonnes) == sum(
        Decimal(r[10]) for r in good_rows if r[2] == "22D1" and r[3] == "Materia Prima")

    # The SQL-looking SKU is stored verbatim; the table is still there.
    stored = suite.psql("SELECT sku FROM catalog.stock_snapshots WHERE sku LIKE '%DROP TABLE%'")
    assert stored == sql_sku


def test_bad_header_empty_file_and_overlong_lines_are_invalid_argument(cc):
    for data in [b"", b"\n", b"data;cod_cliente\n2024-01-01;1\n", (HEADER.upper() + "\n").encode(),
                 HEADER.encode() + b"\n" + b"x" * (70 * 1024)]:
        error = fails(lambda: import_csv(cc, data))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, data[:40]
    # A header alone, with a BOM and no final line break, is an empty import.
    summary = import_csv(cc, b"\xef\xbb\xbf" + HEADER.encode())
    assert (summary.rows_read, summary.rows_rejected, summary.rows_inserted) == (0, 0, 0)


def row(date="2024-05-31", client="42", centre="1101", material="Materia Prima", origin="10", code="BQLF0120-1000",
        lot="L1", days=10, form="Bobina", group="Laminado a Frio", tonnes="1.000", sku="SKU-1"):
    return bi.StockSnapshotRow(
        date=date, client_code=client, centre=centre, material_type=material, origin=origin, product_code=code,
        lot=lot, days_in_stock=days, product_form=form, merchandise_group=group, total_tonnes=tonnes, sku=sku)


def test_streamed_rows_are_validated_one_by_one_and_reimport_is_idempotent(cc):
    tenant = str(uuid.uuid4())
    stub = bi_rpc.StockBIStub(cc)
    rows = [
        row(lot="A", tonnes="12,5"),                         # 1 decimal comma
        row(lot="B", date="31/05/2024", days=45),            # 2 DD/MM/YYYY
        row(lot="C", date="31/02/2024"),                     # 3 bad
        row(lot="D", tonnes="NaN"),                          # 4 bad
        row(lot="E", tonnes="1.1234567"),                    # 5 bad: 7 fraction digits
        row(lot="F", days=-1),                               # 6 bad
        row(lot="G", centre="'; DELETE FROM x; --"),         # 7 bad centre
        row(lot="H", client="0"),                            # 8 bad client
        row(lot="I", tonnes=""),                             # 9 bad
        row(lot="A", tonnes="12.50"),                        # 10 same key as 1, numerically equal
        row(lot="J", material="Produto Acabado'); --", days=120, tonnes="0.000001"),  # 11 verbatim text
    ]
    summary = stub.ImportStockSnapshots(iter(rows), metadata=md("editor", tenant))
    assert summary.rows_read == 11 and [e.line for e in summary.errors] == [3, 4, 5, 6, 7, 8, 9]
    assert (summary.rows_inserted, summary.rows_updated, summary.rows_unchanged) == (3, 0, 0)
    assert [(c.code, c.name) for c in summary.clients_created] == [("42", "Cliente 1")]
    again = stub.ImportStockSnapshots(iter(rows), metadata=md("editor", tenant))
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 3)
    changed = stub.ImportStockSnapshots(iter([row(lot="A", tonnes="13")]), metadata=md("editor", tenant))
    assert (changed.rows_inserted, changed.rows_updated, changed.rows_unchanged) == (0, 1, 0)
    aging = stub.StockAging(bi.StockAgingRequest(), metadata=md("viewer", tenant))
    assert [(b.total_tonnes, b.rows) for b in aging.buckets] == [
        ("13", 1), ("1.000", 1), ("0", 0), ("0.000001", 1)]
    totals = stub.StockTotals(bi.StockTotalsRequest(group_by=bi.STOCK_DIMENSION_MATERIAL_TYPE),
                              metadata=md("viewer", tenant))
    assert "Produto Acabado'); --" in [t.key for t in totals.totals]
    # Bad query input.
    for request in [bi.StockTotalsRequest(), bi.StockTotalsRequest(group_by=99)]:
        error = fails(lambda: stub.StockTotals(request, metadata=md("viewer", tenant)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    for bad in [bi.StockFilter(date="2024-13-01"), bi.StockFilter(client_code="x'; --"),
                bi.StockFilter(date="'; DROP TABLE stock_snapshots; --")]:
        error = fails(lambda: stub.StockAging(bi.StockAgingRequest(filter=bad), metadata=md("viewer", tenant)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = fails(lambda: stub.ListStockClients(bi.ListStockClientsRequest(page_token="zz"),
                                                metadata=md("viewer", tenant)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    # An older date is still queryable.
    older = stub.StockAging(bi.StockAgingRequest(filter=bi.StockFilter(date="2024-01-01")),
                            metadata=md("viewer", tenant))
    assert older.date == "2024-01-01" and older.total_tonnes == "0"


def test_new_clients_are_numbered_in_code_order_after_existing_ones(cc):
    tenant = str(uuid.uuid4())
    stub = bi_rpc.StockBIStub(cc)
    first = stub.ImportStockSnapshots(iter([row(client="500", lot="1"), row(client="0020", lot="2")]),
                                      metadata=md("editor", tenant))
    assert [(c.code, c.name) for c in first.clients_created] == [("20", "Cliente 1"), ("500", "Cliente 2")]
    second = stub.ImportStockSnapshots(iter([row(client="700", lot="3"), row(client="10", lot="4"),
                                             row(client="20", lot="5")]), metadata=md("editor", tenant))
    assert [(c.code, c.name) for c in second.clients_created] == [("10", "Cliente 3"), ("700", "Cliente 4")]


def test_other_tenants_see_none_of_the_stock_data(cc, tmp_path):
    data = generated(tmp_path, "--stock-rows", "50", "--sales-rows", "0", "--seed", "7")
    tenant = str(uuid.uuid4())
    assert import_csv(cc, data, tenant=tenant).rows_inserted == 50
    stub = bi_rpc.StockBIStub(cc)
    assert stub.StockAging(bi.StockAgingRequest(), metadata=md("admin", RIVAL)).total_tonnes == "0"
    assert list(stub.ListStockClients(bi.ListStockClientsRequest(), metadata=md("admin", RIVAL)).clients) == []
    totals = stub.StockTotals(bi.StockTotalsRequest(group_by=bi.STOCK_DIMENSION_CENTRE), metadata=md("admin", RIVAL))
    assert list(totals.totals) == []
    # The rival importing the same file gets its own clients, numbered from 1, and its own rows.
    rival = import_csv(cc, data, tenant=RIVAL)
    assert rival.rows_inserted == 50 and rival.clients_created[0].name == "Cliente 1"
    # A tenant claim that is not a UUID is refused.
    error = fails(lambda: stub.StockAging(bi.StockAgingRequest(), metadata=md("admin", "'; --")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_sixty_four_concurrent_clients_across_locations_never_oversell_or_deadlock(suite, cc):
    tenant = str(uuid.uuid4())
    editor = md("editor", tenant)
    products = [cat_rpc.ProductsStub(cc).CreateProduct(cat.CreateProductRequest(product=cat.Product(
        sku=f"HOT-{i}", name=f"Hot {i}", price=cat.Money(amount="9.99", currency="BRL"))), metadata=editor)
        for i in range(3)]
    inventory = cat_rpc.InventoryStub(cc)
    locations = ["1101", "22D1", "32D1"]
    for code in locations:
        inventory.PutLocation(cat.Location(code=code, name=code), metadata=editor)
    stock = {}
    for p in products:
        for code in locations:
            units = random.randint(3, 8)
            inventory.Restock(cat.RestockRequest(product_id=p.id, location_code=code, quantity=units,
                                                 reason="start"), metadata=editor)
            stock[(p.id, code)] = units
    stub = cat_rpc.ReservationsStub(cc)
    rng = random.Random(64)
    orders = []
    for index in range(64):
        picks = rng.sample([(p.id, c) for p in products for c in locations], rng.randint(1, 4))
        orders.append((f"rush-{index}", [cat.ReservationLine(product_id=pid, location_code=code,
                                                             quantity=rng.randint(1, 3)) for pid, code in picks]))

    def attempt(order):
        order_id, lines = order
        try:
            reservation = stub.Reserve(cat.ReserveRequest(order_id=order_id, lines=lines), metadata=editor)
            if int(order_id.split("-")[1]) % 3 == 0:
                stub.Release(cat.ReleaseReservationRequest(order_id=order_id), metadata=editor)
                return "released", reservation
            stub.Commit(cat.CommitReservationRequest(order_id=order_id), metadata=editor)
            return "committed", reservation
        except grpc.RpcError as error:
            return error.code(), None

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        outcomes = list(pool.map(attempt, orders))
    kinds = collections.Counter(outcome for outcome, _ in outcomes)
    assert set(kinds) <= {"committed", "released", grpc.StatusCode.FAILED_PRECONDITION}, kinds
    assert kinds["committed"] > 0 and kinds[grpc.StatusCode.FAILED_PRECONDITION] > 0
    shipped = collections.Counter()
    for outcome, reservation in outcomes:
        if outcome == "committed":
            for line in reservation.lines:
                shipped[(line.product_id, line.location_code)] += line.quantity
    for p in products:
        for level in inventory.GetStock(cat.GetStockRequest(product_id=p.id), metadata=md("viewer", tenant)).levels:
            key = (p.id, level.location_code)
            assert shipped[key] <= stock[key]
            assert (level.on_hand, level.reserved) == (stock[key] - shipped[key], 0), key
    # Totals equal the sums of the insert-only movements, for this tenant's every row.
    check = suite.psql(
        "SELECT count(*) FILTER (WHERE s.on_hand = m.on_hand AND s.reserved = m.reserved), count(*)"
        " FROM catalog.stock s JOIN (SELECT tenant_id, product_id, location_code, sum(on_hand_delta) on_hand,"
        " sum(reserved_delta) reserved FROM catalog.stock_movements GROUP BY 1, 2, 3) m"
        f" USING (tenant_id, product_id, location_code) WHERE s.tenant_id = '{tenant}'")
    assert check == "9|9"
    # Another tenant cannot touch these products or reservations.
    rival = md("editor", RIVAL)
    for call in [
        lambda: inventory.GetStock(cat.GetStockRequest(product_id=products[0].id), metadata=rival),
        lambda: inventory.Restock(cat.RestockRequest(product_id=products[0].id, location_code="1101", quantity=1),
                                  metadata=rival),
        lambda: stub.Commit(cat.CommitReservationRequest(order_id="rush-1"), metadata=rival),
        lambda: stub.Release(cat.ReleaseReservationRequest(order_id="rush-1"), metadata=rival),
        lambda: cat_rpc.ProductsStub(cc).UpdateProduct(cat.UpdateProductRequest(
            product=cat.Product(id=products[0].id, name="Mine"), update_mask=["name"]), metadata=rival),
    ]:
        assert fails(call).code() == grpc.StatusCode.NOT_FOUND
