"""Load and setup steps of scripts/bench-catalog-rpc.sh, with the generated Python stubs.

  catalog_rpc.py keys WORK                  mint a key: WORK/keys.env (AUTH_PUBLIC_KEYS), WORK/tenant,
                                            WORK/viewer.token, WORK/editor.token (valid one hour)
  catalog_rpc.py products WORK PORT N       create N products (SKU BENCH-000001...), write
                                            WORK/getproduct.bin (a gRPC-framed GetProductRequest
                                            for one of them), WORK/getproduct.id (its id) and
                                            check one GetProduct answers OK
  catalog_rpc.py pairs WORK PORT CLIENTS SECONDS [PRODUCTS LOCATIONS LINES]
                                            CLIENTS threads each reserve LINES units (1 at each of
                                            LINES random stock rows out of PRODUCTS x LOCATIONS hot
                                            ones) and commit, for SECONDS; prints pairs/s, the
                                            latency of a pair and the end-of-run stock checks
"""

import concurrent.futures
import os
import random
import resource
import struct
import sys
import threading
import time
import uuid

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from catalog.v1 import catalog_pb2 as cat  # noqa: E402
from catalog.v1 import catalog_pb2_grpc as cat_rpc  # noqa: E402
from catalog_tokens import TokenMinter, bearer  # noqa: E402


def frame(message):
    data = message.SerializeToString()
    return struct.pack(">BI", 0, len(data)) + data


def read(work, name):
    with open(os.path.join(work, name)) as f:
        return f.read().strip()


def keys(work):
    minter = TokenMinter(kid="bench")
    tenant = str(uuid.uuid4())
    with open(os.path.join(work, "keys.env"), "w") as f:
        f.write(f"AUTH_PUBLIC_KEYS={minter.public_keys}\n")
    for name, text in [("tenant", tenant), ("viewer.token", minter.token(tenant, "viewer", lifetime=3600)),
                       ("editor.token", minter.token(tenant, "editor", lifetime=3600))]:
        with open(os.path.join(work, name), "w") as f:
            f.write(text)


def products(work, port, count):
    editor = bearer(read(work, "editor.token"))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = cat_rpc.ProductsStub(channel)

        def create(index):
            return stub.CreateProduct(cat.CreateProductRequest(product=cat.Product(
                sku=f"BENCH-{index:06d}", name=f"Bench product {index}", brand="Bench",
                description="A product of the GetProduct benchmark",
                price=cat.Money(amount=f"{index % 1000}.{index % 100:02d}", currency="BRL"))), metadata=editor).id

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(create, range(1, count + 1)))
        chosen = ids[len(ids) // 2]
        with open(os.path.join(work, "getproduct.bin"), "wb") as f:
            f.write(frame(cat.GetProductRequest(id=chosen)))
        with open(os.path.join(work, "getproduct.id"), "w") as f:
            f.write(chosen)
        got = stub.GetProduct(cat.GetProductRequest(id=chosen), metadata=bearer(read(work, "viewer.token")))
        assert got.id == chosen, got
    print(f"created {count} products; GetProduct asks for {chosen}")


def pairs(work, port, clients, seconds, product_count=4, location_count=3, lines=2):
    editor = bearer(read(work, "editor.token"))
    tenant = read(work, "tenant")
    initial = 1_000_000
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        products = cat_rpc.ProductsStub(channel)
        inventory = cat_rpc.InventoryStub(channel)
        locations = [f"HOT{i}" for i in range(location_count)]
        for code in locations:
            inventory.PutLocation(cat.Location(code=code, name=code), metadata=editor)
        ids = [products.CreateProduct(cat.CreateProductRequest(product=cat.Product(
            sku=f"HOT-{uuid.uuid4().hex[:8]}", name=f"Hot {i}", price=cat.Money(amount="1", currency="BRL"))),
            metadata=editor).id for i in range(product_count)]
        rows = [(p, code) for p in ids for code in locations]
        for p, code in rows:
            inventory.Restock(cat.RestockRequest(product_id=p, location_code=code, quantity=initial, reason="bench"),
                              metadata=editor)

    # One channel (one HTTP/2 connection) per client thread, like h2load's connections.
    stop = time.monotonic() + seconds
    latencies = [[] for _ in range(clients)]
    failures = [0] * clients
    shipped = [dict() for _ in range(clients)]

    run = uuid.uuid4().hex[:8]  # order ids unique to this run: a reused id would get its active reservation back, not new stock

    def client(number):
        rng = random.Random(number)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = cat_rpc.ReservationsStub(channel)
            sequence = 0
            while time.monotonic() < stop:
                sequence += 1
                order = f"bench-{run}-{number}-{sequence}"
                picks = rng.sample(rows, lines)
                start = time.perf_counter()
                try:
                    stub.Reserve(cat.ReserveRequest(order_id=order, lines=[
                        cat.ReservationLine(product_id=p, location_code=code, quantity=1) for p, code in picks]),
                        metadata=editor)
                    stub.Commit(cat.CommitReservationRequest(order_id=order), metadata=editor)
                except grpc.RpcError as error:
                    failures[number] += 1
                    if failures[number] == 1:
                        print(f"client {number}: {error.code()} {error.details()}", file=sys.stderr)
                    continue
                latencies[number].append(time.perf_counter() - start)
                for key in picks:
                    shipped[number][key] = shipped[number].get(key, 0) + 1

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)

    done = sorted(x for per in latencies for x in per)
    count = len(done)
    total = {}
    for per in shipped:
        for key, n in per.items():
            total[key] = total.get(key, 0) + n
    print(f"Reserve+Commit pairs: {clients} clients, {seconds} s, {product_count} products x {location_count} "
          f"locations ({len(rows)} hot stock rows), {lines} lines of 1 unit per order")
    if count:
        print(f"pairs/s {count / elapsed:.0f}  ({count} pairs, {sum(failures)} failed)  "
              f"pair latency p50 {done[count // 2] * 1000:.2f} ms  p99 {done[min(count - 1, count * 99 // 100)] * 1000:.2f} ms"
              f"  max {done[-1] * 1000:.2f} ms")
    print(f"driver CPU {client_cpu / elapsed * 100:.0f}% of one core ({client_cpu / max(count, 1) * 1e6:.0f} us per pair)")
    with open(os.path.join(work, "pairs-expected.txt"), "w") as f:
        for p, code in rows:
            f.write(f"{tenant}|{p}|{code}|{initial - total.get((p, code), 0)}\n")
    if failures and sum(failures):
        sys.exit(1)


if __name__ == "__main__":
    command, work = sys.argv[1], sys.argv[2]
    if command == "keys":
        keys(work)
    elif command == "products":
        products(work, int(sys.argv[3]), int(sys.argv[4]))
    elif command == "pairs":
        pairs(work, int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), *map(int, sys.argv[6:9]))
    else:
        sys.exit(__doc__)
