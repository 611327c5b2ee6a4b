"""Hostile and unusual clients: the server stays up, keeps its memory bounded and serves a
well-behaved client during each; SIGTERM drains in-flight calls and exits 0."""

import os
import signal
import socket
import struct
import threading
import time

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from conftest import ServerProcess
from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc
from test_bad_input import RawClient, framed, status_of


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@pytest.fixture()
def server():
    process = ServerProcess("interop-server", "--handshake-timeout", "1", "--drain-timeout", "5")
    yield process
    if process.alive():
        assert process.stop() == 0


def well_behaved_call(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = test_pb2_grpc.TestServiceStub(channel)
        assert len(stub.UnaryCall(messages_pb2.SimpleRequest(response_size=100), timeout=10).payload.body) == 100


def test_client_that_reads_nothing_leaves_server_memory_flat(server):
    # Ask for 1 GiB of responses and never open the flow-control window.
    client = RawClient(server.port)
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=1 << 20)] * 1024
    )
    stream = client.request(path="/grpc.testing.TestService/StreamingOutputCall")
    client.send(stream, framed(request.SerializeToString()))
    before = rss_kib(server.process.pid)
    time.sleep(0.5)
    client.sock.settimeout(0.2)
    for _ in range(10):  # read what fits in the window, never acknowledge it
        try:
            client.sock.recv(1 << 20)
        except socket.timeout:
            pass
        time.sleep(0.2)
    after = rss_kib(server.process.pid)
    well_behaved_call(server.port)
    client.close()
    assert after - before < 64 * 1024, f"server grew by {after - before} KiB"


def test_rapid_reset_flood_is_contained(server):
    client = RawClient(server.port)
    stop = threading.Event()
    errors = []

    def flood():
        try:
            while not stop.is_set():
                for _ in range(100):
                    stream = client.conn.get_next_available_stream_id()
                    client.conn.send_headers(
                        stream,
                        [(":method", "POST"), (":scheme", "http"), (":path", "/grpc.testing.TestService/EmptyCall"),
                         (":authority", "x"), ("content-type", "application/grpc")],
                    )
                    client.conn.reset_stream(stream)
                client.flush()
        except (OSError, Exception) as error:  # the server is expected to hang up on us
            errors.append(error)

    thread = threading.Thread(target=flood)
    thread.start()
    time.sleep(1.0)
    well_behaved_call(server.port)
    stop.set()
    thread.join(timeout=10)
    client.close()
    assert server.alive()


def test_a_ping_flood_from_a_client_that_reads_nothing_leaves_server_memory_flat(server):
    # Each PING asks for an acknowledgement: 17 bytes each way. A client that never reads
    # must not make the server buffer 150 MB of acknowledgements.
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"\x00" * 8
    batch = ping * 60_000  # ~1 MB
    before = rss_kib(server.process.pid)
    sock.settimeout(5)
    try:
        for _ in range(150):
            sock.sendall(batch)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass  # the server may end the connection (nghttp2's flood limits)
    after = rss_kib(server.process.pid)
    sock.close()
    assert after - before < 64 * 1024, f"server grew by {after - before} KiB"
    well_behaved_call(server.port)


def test_huge_header_block_is_refused(server):
    client = RawClient(server.port)
    stream = client.request(extra=[("x-huge", "a" * (256 * 1024))])
    client.send(stream, framed(b""))
    result = client.read_until_done(stream)
    assert result.get("reset") is not None or result.get("goaway") is not None or result.get("closed") \
        or result["headers"].get(":status") == "431"
    client.close()
    well_behaved_call(server.port)


def test_never_ending_request_on_a_unary_method_is_cut_off(server):
    client = RawClient(server.port)
    stream = client.request()
    chunk = b"\x01" * 16384
    client.send(stream, struct.pack(">BI", 0, 100 << 20), end_stream=False)
    sent = 0
    result = None
    client.sock.settimeout(10)
    while sent < (64 << 20):
        window = client.conn.local_flow_control_window(stream)
        if window < len(chunk):
            result = client.read_until_done(stream)
            break
        client.send(stream, chunk, end_stream=False)
        sent += len(chunk)
    assert result is not None
    assert status_of(result) == 8  # RESOURCE_EXHAUSTED
    client.close()
    well_behaved_call(server.port)


def closed_by_the_server(sockets):
    """How many of `sockets` the server has closed (reading what it sent until end of stream,
    2 s at most each); closes them all."""
    closed = 0
    for sock in sockets:
        sock.settimeout(2)
        try:
            while sock.recv(4096):  # the server's SETTINGS, then end of stream
                pass
            closed += 1
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        sock.close()
    return closed


def test_silent_connections_are_closed_and_others_are_served(server):
    silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(200)]
    well_behaved_call(server.port)
    time.sleep(1.5)
    assert closed_by_the_server(silent) == len(silent)
    well_behaved_call(server.port)


def test_connections_that_never_finish_their_preface_are_closed(server):
    # A byte, or the whole preface without the SETTINGS frame that ends it, does not keep a
    # connection past the handshake timeout (1 s here).
    stalled = []
    for partial in (b"P", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(partial)
            stalled.append(sock)
    well_behaved_call(server.port)
    time.sleep(1.5)
    assert closed_by_the_server(stalled) == len(stalled)
    well_behaved_call(server.port)


def test_sigterm_drains_in_flight_calls_and_exits_zero(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = test_pb2_grpc.TestServiceStub(channel)
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=10, interval_us=300_000)] * 5
    )
    call = stub.StreamingOutputCall(request, timeout=30)
    first = next(call)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    rest = list(call)
    assert len(first.payload.body) == 10 and len(rest) == 4
    assert call.code() == grpc.StatusCode.OK
    assert server.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 6
    channel.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


def test_sigterm_with_a_stuck_call_exits_after_the_drain_timeout(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = test_pb2_grpc.TestServiceStub(channel)
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=10, interval_us=60_000_000)]
    )
    call = stub.StreamingOutputCall(request, timeout=60)
    time.sleep(0.3)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    assert time.monotonic() - started < 8
    with pytest.raises(grpc.RpcError):
        list(call)
    channel.close()


def test_a_thousand_open_streams_stay_under_100_mb(server):
    clients = [RawClient(server.port) for _ in range(4)]
    for client in clients:
        for _ in range(250):
            client.request(path="/grpc.testing.TestService/FullDuplexCall")
        client.flush()
    time.sleep(1.0)
    rss = rss_kib(server.process.pid)
    well_behaved_call(server.port)
    for client in clients:
        client.close()
    assert rss < 100 * 1024, f"{rss} KiB with 1000 open streams"
