"""The catalog's stock BI data and reservations end to end: the real `catalog` executable on a
throwaway cluster, tokens minted here and verified through AUTH_PUBLIC_KEYS, files from the real
`catalog-datagen`."""

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
    try:
        code = server.stop()
    except subprocess.TimeoutExpired:
        code = "no exit (killed)"
    assert code == 0, f"catalog exited with {code}:\n" + "".join(server.log_lines[-30:])


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
        yield cat.CsvChunk(data=data[start:start + size])


def import_csv(cc, data, role="editor", tenant=TENANT, size=7919):
    return cat_rpc.StockAnalyticsStub(cc).ImportCsv(chunks(data, size), metadata=md(role, tenant))


def generated(tmp_path, *args):
    subprocess.run([str(BIN_DIR / "catalog-datagen"), "--out", str(tmp_path), *args], check=True,
                   capture_output=True, timeout=120)
    return (tmp_path / "estoque.csv").read_bytes()


def aging_bucket(days):
    return 0 if days <= 30 else 1 if days <= 60 else 2 if days <= 90 else 3


def test_tokens_missing_expired_tampered_or_foreign_are_unauthenticated(cc):
    stub = cat_rpc.StockAnalyticsStub(cc)

    def aging(metadata):
        return fails(lambda: stub.GetStockAging(cat.StockAgingRequest(), metadata=metadata)).code()

    assert aging(()) == grpc.StatusCode.UNAUTHENTICATED
    expired = MINTER.token(TENANT, "admin", issued=1_000_000_000, lifetime=600)
    assert aging(bearer(expired)) == grpc.StatusCode.UNAUTHENTICATED
    # Payload changed after signing (viewer -> admin): the signature no longer matches.
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
    # A valid viewer reads but may not import, on both import methods, nor write products.
    stub.GetStockAging(cat.StockAgingRequest(), metadata=md("viewer"))
    denied = fails(lambda: import_csv(cc, (HEADER + "\n").encode(), role="viewer"))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    denied = fails(lambda: stub.ImportSnapshots(iter([cat.StockSnapshotRow()]), metadata=md("viewer")))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    write = fails(lambda: cat_rpc.ProductsStub(cc).CreateProduct(cat.CreateProductRequest(product=cat.Product(
        sku="V-1", name="V", price=cat.Money(amount="1", currency="EUR"))), metadata=md("viewer")))
    assert write.code() == grpc.StatusCode.PERMISSION_DENIED
    # A tenant claim that is not a UUID is refused.
    assert aging(md("admin", "'; --")) == grpc.StatusCode.UNAUTHENTICATED


def test_generated_csv_with_corrupted_lines_reports_exactly_those_lines(suite, cc, tmp_path):
    lines = generated(tmp_path).decode().split("\n")
    assert lines[0] == HEADER and lines[-1] == "" and len(lines) == 1475
    sql_sku = "'; DROP TABLE stock_snapshots; -- ação"
    fields = lines[1200 - 1].split("|")
    fields[11] = sql_sku
    lines[1200 - 1] = "|".join(fields)
    corrupt = {
        5: lambda f: f[:11],                                 # a field missing
        100: lambda f: ["2024-02-30"] + f[1:],               # no such day
        250: lambda f: f[:10] + ["abc", f[11]],              # tonnes not a number
        400: lambda f: f + ["extra"],                        # a field too many
        777: lambda f: f[:7] + ["x"] + f[8:],                # days not a number
        901: lambda f: f[:10] + ["1e5", f[11]],              # exponent notation
        950: lambda f: f[:5] + [""] + f[6:],                 # empty product code
    }
    for number, change in corrupt.items():
        lines[number - 1] = "|".join(change(lines[number - 1].split("|")))
    data = "\n".join(lines).encode()
    raw = data.split(b"\n")
    raw[999] = raw[999].replace(b"|", b"|\xff\xfe", 1)     # line 1000: not UTF-8
    data = b"\r\n".join(raw)                               # Windows line breaks are fine too
    bad = set(corrupt) | {1000}
    good_rows = [lines[i].split("|") for i in range(1, len(lines) - 1) if i + 1 not in bad]

    report = import_csv(cc, data)
    assert report.rows_rejected == len(bad) and [e.line for e in report.errors] == sorted(bad)
    assert report.rows_loaded == len(good_rows)
    codes = {row[1] for row in good_rows}
    assert report.clients_created == len(codes)
    stub = cat_rpc.StockAnalyticsStub(cc)
    clients = stub.ListStockClients(cat.ListStockClientsRequest(), metadata=md("viewer")).clients
    assert {c.code for c in clients} == codes
    assert sorted(c.name for c in clients) == sorted(f"Cliente {n}" for n in range(1, len(codes) + 1))

    def snapshot():
        aging = stub.GetStockAging(cat.StockAgingRequest(), metadata=md("viewer"))
        totals = {d: {t.key: (t.label, t.total_tonnes, t.rows) for t in stub.GetStockTotals(
            cat.StockTotalsRequest(group_by=d), metadata=md("viewer")).totals} for d in range(1, 5)}
        return aging, totals

    aging, totals = snapshot()
    assert aging.snapshot_date == "2024-06-30"
    expected = collections.defaultdict(lambda: [Decimal(0), 0])
    for row in good_rows:
        bucket = expected[aging_bucket(int(row[7]))]
        bucket[0] += Decimal(row[10])
        bucket[1] += 1
    assert [(Decimal(b.total_tonnes), b.rows) for b in aging.buckets] == [
        (expected[i][0], expected[i][1]) for i in range(4)]
    for dimension, column in ((1, 1), (2, 5), (3, 2), (4, 3)):
        want = collections.defaultdict(Decimal)
        for row in good_rows:
            want[row[column]] += Decimal(row[10])
        assert {key: Decimal(v[1]) for key, v in totals[dimension].items()} == want, dimension
    # A re-import of the same file (other chunk size) reports the same lines and changes nothing.
    again = import_csv(cc, data, size=1 << 20)
    assert [e.line for e in again.errors] == sorted(bad) and again.clients_created == 0
    assert snapshot() == (aging, totals)
    assert len(stub.ListStockClients(cat.ListStockClientsRequest(), metadata=md("viewer")).clients) == len(codes)
    # The SQL-looking SKU is stored verbatim; the table is still there.
    assert suite.psql("SELECT sku FROM catalog.stock_snapshots WHERE sku LIKE '%DROP TABLE%'") == sql_sku


def test_bad_header_and_empty_file_are_invalid_argument(cc):
    for data in [b"", b"data;cod_cliente\n2024-01-01;1\n", (HEADER.upper() + "\n").encode(),
                 HEADER.encode() + b"\n" + b"x" * (2 << 20)]:
        error = fails(lambda: import_csv(cc, data))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, data[:40]


def row(date="2024-05-31", client="42", centre="1101", material="Materia Prima", origin="10", code="BQLF0120-1000",
        lot="L1", days=10, form="Bobina", group="Laminado a Frio", tonnes="1.000", sku="SKU-1"):
    return cat.StockSnapshotRow(
        date=date, client_code=client, centre=centre, material_type=material, origin=origin, product_code=code,
        lot=lot, days_in_stock=days, product_form=form, merchandise_group=group, total_tonnes=tonnes, sku=sku)


def test_new_clients_are_numbered_in_code_order_after_existing_ones(cc):
    tenant = str(uuid.uuid4())
    stub = cat_rpc.StockAnalyticsStub(cc)
    stub.ImportSnapshots(iter([row(client="500", lot="1"), row(client="20", lot="2")]), metadata=md("editor", tenant))
    stub.ImportSnapshots(iter([row(client="700", lot="3"), row(client="10", lot="4"), row(client="20", lot="5")]),
                         metadata=md("editor", tenant))
    clients = stub.ListStockClients(cat.ListStockClientsRequest(), metadata=md("viewer", tenant)).clients
    assert {c.code: c.name for c in clients} == {
        "20": "Cliente 1", "500": "Cliente 2", "10": "Cliente 3", "700": "Cliente 4"}


def test_other_tenants_see_none_of_the_stock_data(cc, tmp_path):
    data = generated(tmp_path, "--stock-rows", "50", "--sales-rows", "0", "--seed", "7")
    tenant = str(uuid.uuid4())
    assert import_csv(cc, data, tenant=tenant).rows_loaded == 50
    stub = cat_rpc.StockAnalyticsStub(cc)
    rival = md("admin", RIVAL)
    assert all(b.rows == 0 for b in stub.GetStockAging(cat.StockAgingRequest(), metadata=rival).buckets)
    assert list(stub.ListStockClients(cat.ListStockClientsRequest(), metadata=rival).clients) == []
    totals = stub.GetStockTotals(cat.StockTotalsRequest(group_by=cat.STOCK_DIMENSION_CENTRE), metadata=rival)
    assert list(totals.totals) == []
    # The rival importing the same file gets its own clients, numbered from 1.
    assert import_csv(cc, data, tenant=RIVAL).clients_created > 0
    names = [c.name for c in stub.ListStockClients(cat.ListStockClientsRequest(), metadata=rival).clients]
    assert "Cliente 1" in names


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
