"""gzip message compression both ways between Python grpcio / raw HTTP/2 and the Swift server."""

import gzip
import struct

import grpc
import pytest
from grpc.testing import messages_pb2
from test_bad_input import RawClient, framed, status_of


def test_gzip_compressed_request_is_accepted_and_detected(stub):
    request = messages_pb2.SimpleRequest(
        response_size=1000,
        payload=messages_pb2.Payload(body=b"\0" * 50_000),
        expect_compressed=messages_pb2.BoolValue(value=True),
    )
    response = stub.UnaryCall(request, compression=grpc.Compression.Gzip)
    assert len(response.payload.body) == 1000


def test_uncompressed_request_claiming_compression_is_invalid_argument(stub):
    request = messages_pb2.SimpleRequest(expect_compressed=messages_pb2.BoolValue(value=True))
    with pytest.raises(grpc.RpcError) as failure:
        stub.UnaryCall(request, compression=grpc.Compression.NoCompression)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_client_streaming_with_gzip(stub):
    requests = [
        messages_pb2.StreamingInputCallRequest(
            payload=messages_pb2.Payload(body=b"a" * size), expect_compressed=messages_pb2.BoolValue(value=True)
        )
        for size in (27182, 45904)
    ]
    response = stub.StreamingInputCall(iter(requests), compression=grpc.Compression.Gzip)
    assert response.aggregated_payload_size == 73086


def test_server_compresses_responses_when_asked_and_accepted(interop_server):
    raw = RawClient(interop_server.port)
    request = messages_pb2.SimpleRequest(response_size=100_000, response_compressed=messages_pb2.BoolValue(value=True))
    stream = raw.request(extra=[("grpc-accept-encoding", "gzip")])
    raw.send(stream, framed(request.SerializeToString()))
    result = raw.read_until_done(stream)
    raw.close()
    assert status_of(result) == 0
    assert result["headers"]["grpc-encoding"] == "gzip"
    flag, length = struct.unpack(">BI", result["data"][:5])
    assert flag == 1 and length < 1000  # 100 kB of zeros compress well
    response = messages_pb2.SimpleResponse.FromString(gzip.decompress(result["data"][5:]))
    assert len(response.payload.body) == 100_000


def test_server_does_not_compress_for_a_client_that_does_not_accept_gzip(interop_server):
    raw = RawClient(interop_server.port)
    request = messages_pb2.SimpleRequest(response_size=100, response_compressed=messages_pb2.BoolValue(value=True))
    stream = raw.request()
    raw.send(stream, framed(request.SerializeToString()))
    result = raw.read_until_done(stream)
    raw.close()
    assert status_of(result) == 0
    assert result["data"][0] == 0


def test_compressed_response_is_decompressed_by_grpcio(stub):
    request = messages_pb2.SimpleRequest(response_size=200_000, response_compressed=messages_pb2.BoolValue(value=True))
    assert len(stub.UnaryCall(request).payload.body) == 200_000


def test_gzip_bomb_is_resource_exhausted(interop_server):
    bomb = gzip.compress(messages_pb2.SimpleRequest(payload=messages_pb2.Payload(body=b"\0" * (8 << 20))).SerializeToString())
    raw = RawClient(interop_server.port)
    stream = raw.request(extra=[("grpc-encoding", "gzip")])
    raw.send(stream, framed(bomb, flag=1))
    result = raw.read_until_done(stream)
    raw.close()
    assert status_of(result) == 8


def test_corrupt_gzip_is_internal(interop_server):
    raw = RawClient(interop_server.port)
    stream = raw.request(extra=[("grpc-encoding", "gzip")])
    raw.send(stream, framed(b"\x1f\x8b\x08\x00garbage", flag=1))
    result = raw.read_until_done(stream)
    raw.close()
    assert status_of(result) == 13


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_gzip_bombs_queued_behind_a_busy_handler_stay_compressed(interop_server, stub):
    """A handler busy for 2 s while 80 messages of 3 MiB of zeros (a few KB each, gzipped) arrive:
    the server keeps them compressed until the handler takes them, instead of ~240 MB at once."""
    import threading
    import time

    pid = interop_server.process.pid
    baseline = rss_mb(pid)
    bomb = messages_pb2.StreamingOutputCallRequest(payload=messages_pb2.Payload(body=b"\0" * (3 << 20)))
    requests = [messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=1, interval_us=2_000_000)])] + [bomb] * 80
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        responses = list(stub.FullDuplexCall(iter(requests), compression=grpc.Compression.Gzip, timeout=30))
    finally:
        done.set()
        sampler.join()
    assert len(responses) == 1
    assert peak[0] - baseline < 100, f"RSS rose {peak[0] - baseline:.0f} MB"
    assert interop_server.alive()
