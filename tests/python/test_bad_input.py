"""Malformed requests sent with a raw HTTP/2 client (python-h2): each gets the right gRPC
status or HTTP/2 error, and the server keeps serving other calls and connections."""

import socket
import struct

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import pytest
from grpc.testing import empty_pb2, messages_pb2

UNARY = "/grpc.testing.TestService/UnaryCall"


class RawClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path=UNARY, content_type="application/grpc", method="POST", end_stream=False, extra=()):
        stream_id = self.conn.get_next_available_stream_id()
        headers = [
            (":method", method),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("te", "trailers"),
        ]
        if content_type is not None:
            headers.append(("content-type", content_type))
        headers.extend(extra)
        self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        self.flush()
        return stream_id

    def send(self, stream_id, data, end_stream=True):
        self.conn.send_data(stream_id, data, end_stream=end_stream)
        self.flush()

    def read_until_done(self, stream_id):
        """Collects headers, data and trailers of one stream until it ends or is reset."""
        result = {"headers": {}, "trailers": {}, "data": b"", "reset": None, "goaway": None}
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                result["closed"] = True
                return result
            for event in self.conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                    result["headers"] = dict(event.headers)
                elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream_id:
                    result["trailers"] = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream_id:
                    result["data"] += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                    result["reset"] = event.error_code
                    self.flush()
                    return result
                elif isinstance(event, h2.events.ConnectionTerminated):
                    result["goaway"] = event.error_code
                    return result
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                    self.flush()
                    return result
            self.flush()

    def close(self):
        self.sock.close()


def status_of(result):
    fields = {**result["headers"], **result["trailers"]}
    return int(fields["grpc-status"]) if "grpc-status" in fields else None


def framed(payload, flag=0):
    return struct.pack(">BI", flag, len(payload)) + payload


@pytest.fixture()
def raw(interop_server):
    client = RawClient(interop_server.port)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def server_still_serves(interop_server, stub):
    yield
    assert interop_server.alive()
    assert stub.EmptyCall(empty_pb2.Empty(), timeout=10) == empty_pb2.Empty()


def test_wrong_content_type_is_http_415(raw):
    stream = raw.request(content_type="application/json")
    raw.send(stream, b"{}")
    result = raw.read_until_done(stream)
    assert result["headers"][":status"] == "415"


def test_missing_content_type_is_http_415(raw):
    stream = raw.request(content_type=None)
    raw.send(stream, framed(b""))
    assert raw.read_until_done(stream)["headers"][":status"] == "415"


def test_get_request_is_http_405(raw):
    stream = raw.request(method="GET", end_stream=True)
    assert raw.read_until_done(stream)["headers"][":status"] == "405"


def test_malformed_length_prefix_is_internal(raw):
    stream = raw.request()
    raw.send(stream, b"\x07\x00\x00\x00\x01\x00")
    result = raw.read_until_done(stream)
    assert result["headers"][":status"] == "200"
    assert status_of(result) == 13


def test_truncated_body_is_internal(raw):
    stream = raw.request()
    raw.send(stream, struct.pack(">BI", 0, 100) + b"\x00" * 10)
    assert status_of(raw.read_until_done(stream)) == 13


def test_prefix_cut_in_half_at_end_of_stream_is_internal(raw):
    stream = raw.request()
    raw.send(stream, b"\x00\x00")
    assert status_of(raw.read_until_done(stream)) == 13


def test_bytes_that_are_not_protobuf_are_internal(raw):
    stream = raw.request()
    raw.send(stream, framed(b"\x0a\xff\xff\xff\xff\x0f"))
    result = raw.read_until_done(stream)
    assert status_of(result) == 13
    assert "decode" in result["headers"].get("grpc-message", "") + result["trailers"].get("grpc-message", "")


def grpc_message(result):
    return result["headers"].get("grpc-message", "") + result["trailers"].get("grpc-message", "")


def test_a_nul_in_a_string_field_is_invalid_argument_not_a_cut_string(raw):
    # SimpleRequest.response_status (7) = EchoStatus{message (2) = "a\0"}: valid protobuf, but a
    # string the server's decoder would otherwise cut at the NUL.
    stream = raw.request()
    raw.send(stream, framed(b"\x3a\x04\x12\x02a\x00"))
    result = raw.read_until_done(stream)
    assert status_of(result) == 3
    assert "NUL" in grpc_message(result) and "message" in grpc_message(result)


def test_invalid_utf8_in_a_string_field_is_internal_not_repaired(raw):
    # The same string field holding a lone 0xFF byte: not UTF-8, so not a proto3 string.
    stream = raw.request()
    raw.send(stream, framed(b"\x3a\x03\x12\x01\xff"))
    result = raw.read_until_done(stream)
    assert status_of(result) == 13
    assert "UTF-8" in grpc_message(result)


def test_announced_message_over_the_limit_is_rejected_before_its_body(raw):
    stream = raw.request()
    raw.send(stream, struct.pack(">BI", 0, 64 << 20), end_stream=False)
    result = raw.read_until_done(stream)
    assert status_of(result) == 8


def test_unknown_method_is_unimplemented(raw):
    stream = raw.request(path="/grpc.testing.TestService/Nope")
    raw.send(stream, framed(b""))
    assert status_of(raw.read_until_done(stream)) == 12


def test_two_messages_on_a_unary_method_are_rejected(raw):
    stream = raw.request()
    raw.send(stream, framed(b"") + framed(b""))
    assert status_of(raw.read_until_done(stream)) == 12


def test_no_message_on_a_unary_method_is_rejected(raw):
    stream = raw.request(end_stream=True)
    assert status_of(raw.read_until_done(stream)) == 12


def test_unsupported_encoding_is_unimplemented(raw):
    stream = raw.request(extra=[("grpc-encoding", "snappy")])
    raw.send(stream, framed(b"", flag=1))
    result = raw.read_until_done(stream)
    assert status_of(result) == 12


def test_malformed_timeout_is_internal(raw):
    # INTERNAL as grpc-go answers it: the library never generates INVALID_ARGUMENT (statuscodes.md).
    for value in ["soon", "1x", "123456789S", "S"]:
        stream = raw.request(extra=[("grpc-timeout", value)])
        raw.send(stream, framed(b""))
        result = raw.read_until_done(stream)
        assert status_of(result) == 13, value
        assert "grpc-timeout" in grpc_message(result)


def test_the_deadline_runs_from_the_headers_not_from_the_last_request_byte(raw):
    # A unary request that never finishes arriving: the call ends at its deadline anyway.
    import time
    stream = raw.request(extra=[("grpc-timeout", "300m")])
    started = time.monotonic()
    raw.send(stream, struct.pack(">BI", 0, 10) + b"\x08", end_stream=False)
    result = raw.read_until_done(stream)
    assert status_of(result) == 4, result
    assert 0.25 <= time.monotonic() - started < 3


def test_a_header_list_over_the_advertised_limit_is_resource_exhausted(raw):
    # Five copies of a 4 000-byte field: HPACK sends the value once and then table references,
    # so a small block adds up to more than the 16 KiB the server advertised.
    big = "v" * 4000
    stream = raw.request(extra=[("x-big", big)] * 5)
    raw.send(stream, framed(b""))
    result = raw.read_until_done(stream)
    assert status_of(result) == 8, result
    assert "header list" in grpc_message(result)
    # Just under the limit is served.
    stream = raw.request(extra=[("x-big", big)] * 3)
    raw.send(stream, framed(b""))
    assert status_of(raw.read_until_done(stream)) == 0


def test_data_on_a_closed_stream_is_a_stream_or_connection_error(raw):
    stream = raw.request(path="/grpc.testing.TestService/EmptyCall")
    raw.send(stream, framed(b""))
    result = raw.read_until_done(stream)
    assert status_of(result) == 0
    # A DATA frame on the now closed stream, written by hand (python-h2 refuses to send it).
    frame = struct.pack(">I", 5)[1:] + bytes([0x0, 0x1]) + struct.pack(">I", stream) + framed(b"")
    raw.sock.sendall(frame)
    raw.sock.settimeout(5)
    events = []
    try:
        while True:
            chunk = raw.sock.recv(65536)
            if not chunk:
                break
            events += raw.conn.receive_data(chunk)
            if any(isinstance(e, (h2.events.StreamReset, h2.events.ConnectionTerminated)) for e in events):
                break
    except (socket.timeout, h2.exceptions.ProtocolError):
        pass
    errors = [e for e in events if isinstance(e, (h2.events.StreamReset, h2.events.ConnectionTerminated))]
    assert errors, "server must answer DATA on a closed stream with RST_STREAM or GOAWAY"
    assert errors[0].error_code in (h2.errors.ErrorCodes.STREAM_CLOSED, h2.errors.ErrorCodes.PROTOCOL_ERROR)


def test_garbage_instead_of_a_connection_preface_closes_only_that_connection(interop_server):
    sock = socket.create_connection(("127.0.0.1", interop_server.port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 100)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pytest.fail("server kept a garbage connection open")
    sock.close()


def test_large_unary_still_works_after_bad_input(stub):
    response = stub.UnaryCall(messages_pb2.SimpleRequest(response_size=100_000))
    assert len(response.payload.body) == 100_000
