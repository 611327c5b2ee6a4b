"""The Python grpcio client calling the Swift interop server: unary calls on the wire."""

import concurrent.futures

import grpc
import pytest
from grpc.health.v1 import health_pb2, health_pb2_grpc
from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc

UNICODE_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n % done"


def test_empty_call_returns_empty(stub):
    assert stub.EmptyCall(empty_pb2.Empty()) == empty_pb2.Empty()


def test_large_unary_returns_requested_size(stub):
    request = messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_size=314159,
        payload=messages_pb2.Payload(body=b"\0" * 271828),
    )
    response = stub.UnaryCall(request)
    assert len(response.payload.body) == 314159
    assert response.payload.body == b"\0" * 314159


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c != grpc.StatusCode.OK])
def test_every_status_code_and_message_reach_the_client(stub, code):
    number = code.value[0]
    request = messages_pb2.SimpleRequest(
        response_status=messages_pb2.EchoStatus(code=number, message=UNICODE_MESSAGE)
    )
    with pytest.raises(grpc.RpcError) as failure:
        stub.UnaryCall(request)
    assert failure.value.code() == code
    assert failure.value.details() == UNICODE_MESSAGE


def test_ok_status_is_reported(stub):
    _, call = stub.UnaryCall.with_call(messages_pb2.SimpleRequest(response_size=1))
    assert call.code() == grpc.StatusCode.OK


def test_custom_metadata_is_echoed_both_ways(stub):
    initial_value = "test_initial_metadata_value"
    trailing_value = b"\x0a\x0b\x0a\x0b\x0a\x0b\x00\xff"
    metadata = (
        ("x-grpc-test-echo-initial", initial_value),
        ("x-grpc-test-echo-trailing-bin", trailing_value),
    )
    response, call = stub.UnaryCall.with_call(
        messages_pb2.SimpleRequest(response_size=10), metadata=metadata
    )
    assert len(response.payload.body) == 10
    assert ("x-grpc-test-echo-initial", initial_value) in call.initial_metadata()
    assert ("x-grpc-test-echo-trailing-bin", trailing_value) in call.trailing_metadata()


def test_metadata_is_echoed_with_an_error_status(stub):
    trailing_value = b"\x01\x02"
    with pytest.raises(grpc.RpcError) as failure:
        stub.UnaryCall(
            messages_pb2.SimpleRequest(response_status=messages_pb2.EchoStatus(code=9, message="x")),
            metadata=(("x-grpc-test-echo-trailing-bin", trailing_value),),
        )
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert ("x-grpc-test-echo-trailing-bin", trailing_value) in failure.value.trailing_metadata()


def test_message_just_under_the_limit_is_accepted(stub):
    # 4 MiB limit on the framed protobuf; leave room for field tags and lengths.
    body = b"\1" * (4 * 1024 * 1024 - 64)
    response = stub.UnaryCall(
        messages_pb2.SimpleRequest(response_size=4 * 1024 * 1024 - 64, payload=messages_pb2.Payload(body=body)),
        # grpcio's own default receive limit is 4 MiB too.
    )
    assert len(response.payload.body) == 4 * 1024 * 1024 - 64


def test_message_over_the_limit_is_resource_exhausted(stub):
    body = b"\1" * (4 * 1024 * 1024 + 1)
    with pytest.raises(grpc.RpcError) as failure:
        stub.UnaryCall(messages_pb2.SimpleRequest(payload=messages_pb2.Payload(body=body)))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_server_keeps_serving_after_an_oversized_message(stub):
    with pytest.raises(grpc.RpcError):
        stub.UnaryCall(messages_pb2.SimpleRequest(payload=messages_pb2.Payload(body=b"\1" * (5 << 20))))
    assert stub.EmptyCall(empty_pb2.Empty()) == empty_pb2.Empty()


def test_many_concurrent_calls_share_one_connection(stub):
    futures = [stub.UnaryCall.future(messages_pb2.SimpleRequest(response_size=i % 300)) for i in range(1000)]
    sizes = [len(f.result(timeout=60).payload.body) for f in futures]
    assert sizes == [i % 300 for i in range(1000)]


def test_concurrent_calls_from_many_threads(interop_server):
    def worker(_):
        with grpc.insecure_channel(f"127.0.0.1:{interop_server.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            for i in range(50):
                assert len(stub.UnaryCall(messages_pb2.SimpleRequest(response_size=i)).payload.body) == i
        return True

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(worker, range(16)))


def test_unknown_method_is_unimplemented(channel):
    call = channel.unary_unary("/grpc.testing.TestService/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as failure:
        call(b"")
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_unknown_service_is_unimplemented(channel):
    stub = test_pb2_grpc.UnimplementedServiceStub(channel)
    with pytest.raises(grpc.RpcError) as failure:
        stub.UnimplementedCall(empty_pb2.Empty())
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_unimplemented_call_is_unimplemented(stub):
    with pytest.raises(grpc.RpcError) as failure:
        stub.UnimplementedCall(empty_pb2.Empty())
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_invalid_protobuf_is_internal(channel):
    call = channel.unary_unary("/grpc.testing.TestService/UnaryCall")
    with pytest.raises(grpc.RpcError) as failure:
        call(b"\xff\xff\xff\xff")
    assert failure.value.code() == grpc.StatusCode.INTERNAL


def test_health_check_reports_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    response = health.Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_check_of_unknown_service_is_not_found(channel):
    health = health_pb2_grpc.HealthStub(channel)
    with pytest.raises(grpc.RpcError) as failure:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
