"""Python grpcio calling the Swift server: streaming kinds, deadlines, cancellation, health watch."""

import threading
import time

import grpc
import pytest
from grpc.health.v1 import health_pb2, health_pb2_grpc
from grpc.testing import messages_pb2


def output_request(sizes, interval_us=0, status=None):
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=s, interval_us=interval_us) for s in sizes]
    )
    if status is not None:
        request.response_status.CopyFrom(messages_pb2.EchoStatus(code=status[0], message=status[1]))
    return request


def test_server_streaming_delivers_every_response_in_order(stub):
    sizes = [31415, 9, 2653, 58979]
    responses = list(stub.StreamingOutputCall(output_request(sizes)))
    assert [len(r.payload.body) for r in responses] == sizes


def test_server_streaming_status_after_messages(stub):
    call = stub.StreamingOutputCall(output_request([1, 2], status=(9, "stopped ✓")))
    received = []
    with pytest.raises(grpc.RpcError) as failure:
        for response in call:
            received.append(len(response.payload.body))
    assert received == [1, 2]
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.value.details() == "stopped ✓"


def test_client_streaming_aggregates_sizes(stub):
    sizes = [27182, 8, 1828, 45904]
    requests = (messages_pb2.StreamingInputCallRequest(payload=messages_pb2.Payload(body=b"\0" * s)) for s in sizes)
    assert stub.StreamingInputCall(iter(requests)).aggregated_payload_size == 74922


def test_client_streaming_with_many_small_messages(stub):
    requests = (messages_pb2.StreamingInputCallRequest(payload=messages_pb2.Payload(body=b"x")) for _ in range(20000))
    assert stub.StreamingInputCall(requests).aggregated_payload_size == 20000


def test_bidirectional_ping_pong(stub):
    sizes = [31415, 9, 2653, 58979]
    pending = []
    done = threading.Event()
    lock = threading.Condition()

    def requests():
        for size in sizes:
            with lock:
                pending.append(size)
            yield output_request([size])
            with lock:
                lock.wait_for(lambda: not pending or done.is_set(), timeout=10)

    received = []
    for response in stub.FullDuplexCall(requests()):
        received.append(len(response.payload.body))
        with lock:
            pending.clear()
            lock.notify_all()
    done.set()
    assert received == sizes


def test_half_duplex_answers_after_the_client_half_closes(stub):
    responses = list(stub.HalfDuplexCall(iter([output_request([1, 2]), output_request([3])])))
    assert [len(r.payload.body) for r in responses] == [1, 2, 3]


def test_empty_bidirectional_stream(stub):
    assert list(stub.FullDuplexCall(iter([]))) == []


def test_status_inside_a_bidirectional_stream(stub):
    with pytest.raises(grpc.RpcError) as failure:
        list(stub.FullDuplexCall(iter([output_request([1], status=(2, "from the stream"))])))
    assert failure.value.code() == grpc.StatusCode.UNKNOWN
    assert failure.value.details() == "from the stream"


def test_sleeping_handler_returns_deadline_exceeded_close_to_the_deadline(stub):
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failure:
        list(stub.StreamingOutputCall(output_request([1], interval_us=5_000_000), timeout=0.3))
    elapsed = time.monotonic() - started
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 1.5


def test_unary_deadline_is_enforced_by_the_server(channel):
    # A raw call with a very small timeout; the server must answer DEADLINE_EXCEEDED, not hang.
    call = channel.stream_stream("/grpc.testing.TestService/FullDuplexCall")
    request = output_request([1], interval_us=3_000_000).SerializeToString()
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failure:
        list(call(iter([request]), timeout=0.2))
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.5


def test_cancel_before_the_first_response(stub):
    call = stub.StreamingOutputCall(output_request([10, 10], interval_us=1_000_000))
    call.cancel()
    with pytest.raises(grpc.RpcError) as failure:
        next(call)
    assert failure.value.code() == grpc.StatusCode.CANCELLED


def test_cancel_after_the_first_response(stub):
    call = stub.StreamingOutputCall(output_request([10, 10, 10], interval_us=300_000))
    first = next(call)
    assert len(first.payload.body) == 10
    call.cancel()
    with pytest.raises(grpc.RpcError) as failure:
        for _ in call:
            pass
    assert failure.value.code() == grpc.StatusCode.CANCELLED


def test_server_keeps_serving_after_many_cancellations(stub):
    for _ in range(50):
        call = stub.FullDuplexCall(iter([output_request([100], interval_us=200_000)]))
        call.cancel()
    assert len(stub.UnaryCall(messages_pb2.SimpleRequest(response_size=5)).payload.body) == 5


def test_health_watch_streams_the_current_status(channel):
    health = health_pb2_grpc.HealthStub(channel)
    call = health.Watch(health_pb2.HealthCheckRequest(service=""))
    first = next(call)
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    call.cancel()


def test_health_watch_of_unknown_service_says_service_unknown(channel):
    health = health_pb2_grpc.HealthStub(channel)
    call = health.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert next(call).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    call.cancel()


def test_health_list_includes_the_server(channel):
    health = health_pb2_grpc.HealthStub(channel)
    response = health.List(health_pb2.HealthListRequest())
    assert response.statuses[""].status == health_pb2.HealthCheckResponse.SERVING
