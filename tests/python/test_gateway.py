"""The real gateway in front of real backends: two Swift interop-server replicas, and a Python
grpcio backend that records what arrives (deadlines, cancellation, metadata)."""

import json
import os
import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest
from conftest import BIN_DIR, ServerProcess
from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc
from python_test_service import PythonTestService

from identity_fixtures import free_port


def write_config(tmp_path, text):
    path = tmp_path / f"gateway-{free_port()}.conf"
    path.write_text(text)
    return path


def start_gateway(path):
    return ServerProcess("gateway", "--config", str(path), "--drain-timeout", "5")


def access_lines(gateway):
    lines = []
    for line in list(gateway.log_lines):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("msg") == "access":
            lines.append(event)
    return lines


@pytest.fixture(scope="module")
def replicas():
    servers = [ServerProcess("interop-server"), ServerProcess("interop-server")]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, replicas):
    path = write_config(tmp_path_factory.mktemp("gw"), (
        f"route grpc.testing.* 127.0.0.1:{replicas[0].port} 127.0.0.1:{replicas[1].port}\n"
        "auth off\n"
        "retry /grpc.testing.TestService/UnaryCall\n"
        "health-interval-ms 200\n"))
    server = start_gateway(path)
    yield server
    assert server.alive(), "gateway died:\n" + "".join(server.log_lines[-40:])
    assert server.stop() == 0


@pytest.fixture(scope="module")
def stub(gateway):
    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        yield test_pb2_grpc.TestServiceStub(channel)


def test_every_call_kind_passes_through_unchanged(stub):
    every_call_kind_passes_through(stub)


def every_call_kind_passes_through(stub):
    assert stub.EmptyCall(empty_pb2.Empty()) == empty_pb2.Empty()
    reply = stub.UnaryCall(messages_pb2.SimpleRequest(response_size=3000, payload=messages_pb2.Payload(body=b"x" * 10)))
    assert len(reply.payload.body) == 3000
    sizes = [len(r.payload.body) for r in stub.StreamingOutputCall(messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=s) for s in (1, 50_000, 7)]))]
    assert sizes == [1, 50_000, 7]
    total = stub.StreamingInputCall(iter(
        [messages_pb2.StreamingInputCallRequest(payload=messages_pb2.Payload(body=b"y" * n)) for n in (10, 20, 30000)]))
    assert total.aggregated_payload_size == 30030
    requests = [messages_pb2.StreamingOutputCallRequest(response_parameters=[messages_pb2.ResponseParameters(size=n)])
                for n in (5, 6, 7)]
    assert [len(r.payload.body) for r in stub.FullDuplexCall(iter(requests))] == [5, 6, 7]


def cpu_seconds(process):
    fields = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_busy_polling_gateway_serves_every_call_kind_and_sleeps_when_calls_stop(tmp_path, replicas):
    path = write_config(tmp_path, f"route grpc.testing.* 127.0.0.1:{replicas[0].port}\nauth off\n")
    server = ServerProcess("gateway", "--config", str(path), "--drain-timeout", "5", "--busy-poll-us", "20000")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            every_call_kind_passes_through(stub)
            # Calls 5 ms apart keep the loop inside its 20 ms window: it polls instead of
            # sleeping, so the process uses CPU in the gaps (most of a core on an idle machine).
            start = cpu_seconds(server.process)
            for _ in range(100):
                stub.EmptyCall(empty_pb2.Empty())
                time.sleep(0.005)
            busy = cpu_seconds(server.process) - start
            # With no calls the window closes and the loops block again.
            time.sleep(0.3)
            start = cpu_seconds(server.process)
            time.sleep(1.0)
            idle = cpu_seconds(server.process) - start
        assert busy > 0.1, f"{busy:.2f} s of CPU while polling between calls"
        assert idle < 0.1, f"{idle:.2f} s of CPU in an idle second"
        assert server.alive()
    finally:
        assert server.stop() == 0


def test_metadata_and_statuses_are_relayed(stub):
    reply, call = stub.UnaryCall.with_call(
        messages_pb2.SimpleRequest(response_size=1),
        metadata=(("x-grpc-test-echo-initial", "hello"), ("x-grpc-test-echo-trailing-bin", b"\x00\xff")))
    assert dict(call.initial_metadata())["x-grpc-test-echo-initial"] == "hello"
    assert dict(call.trailing_metadata())["x-grpc-test-echo-trailing-bin"] == b"\x00\xff"
    with pytest.raises(grpc.RpcError) as failure:
        stub.UnaryCall(messages_pb2.SimpleRequest(response_status=messages_pb2.EchoStatus(code=9, message="nope \u2603")))
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION and failure.value.details() == "nope \u2603"


def test_unknown_services_are_unimplemented(gateway):
    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        call = channel.unary_unary("/nope.v1.Missing/Call", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as failure:
            call(b"")
        assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_calls_spread_over_replicas_and_every_call_is_logged(gateway, stub):
    before = len(access_lines(gateway))
    for _ in range(40):
        stub.EmptyCall(empty_pb2.Empty(), metadata=(("x-request-id", "req-fixed"),))
    time.sleep(0.2)
    lines = access_lines(gateway)[before:]
    lines = [line for line in lines if line["rpc.method"] == "/grpc.testing.TestService/EmptyCall"]
    assert len(lines) == 40
    assert len({line["replica"] for line in lines}) == 2
    assert all(line["rpc.status"] == "OK" and line["request_id"] == "req-fixed" for line in lines)


def test_reflection_on_the_gateway_lists_the_routed_services(gateway):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {service.name for response in responses for service in response.list_services_response.service}
    assert "grpc.testing.TestService" in names


class RecordingService(PythonTestService):
    """Remembers the deadline each call arrived with and whether it saw a cancellation."""

    def __init__(self):
        self.remaining = []
        self.metadata = []
        self.cancelled = threading.Event()
        self.calls = 0

    def UnaryCall(self, request, context):
        self.calls += 1
        self.remaining.append(context.time_remaining())
        self.metadata.append(dict(context.invocation_metadata()))
        return super().UnaryCall(request, context)

    def StreamingOutputCall(self, request, context):
        context.add_callback(self.cancelled.set)
        yield from super().StreamingOutputCall(request, context)


@pytest.fixture(scope="module")
def python_backend():
    service = RecordingService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    test_pb2_grpc.add_TestServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield service, port
    server.stop(grace=None)


@pytest.fixture(scope="module")
def python_gateway(tmp_path_factory, python_backend):
    path = write_config(tmp_path_factory.mktemp("gwpy"), (
        f"route grpc.testing.TestService 127.0.0.1:{python_backend[1]}\nauth off\n"))
    server = start_gateway(path)
    yield server
    assert server.stop() == 0


def test_deadlines_reach_the_backend_and_request_ids_are_added(python_backend, python_gateway):
    service, _ = python_backend
    with grpc.insecure_channel(f"127.0.0.1:{python_gateway.port}") as channel:
        test_pb2_grpc.TestServiceStub(channel).UnaryCall(messages_pb2.SimpleRequest(), timeout=2.0,
                                                          metadata=(("x-custom", "kept"),))
    remaining = service.remaining[-1]
    assert remaining is not None and 1.0 < remaining <= 2.0
    seen = service.metadata[-1]
    assert seen["x-custom"] == "kept"
    assert len(seen["x-request-id"]) == 32
    version, trace, parent, flags = seen["traceparent"].split("-")
    assert (version, len(trace), len(parent), flags) == ("00", 32, 16, "01")
    # The client's address is appended to x-forwarded-for, after what the client sent.
    assert seen["x-forwarded-for"] == "127.0.0.1"
    with grpc.insecure_channel(f"127.0.0.1:{python_gateway.port}") as channel:
        test_pb2_grpc.TestServiceStub(channel).UnaryCall(messages_pb2.SimpleRequest(), timeout=2.0,
                                                          metadata=(("x-forwarded-for", "203.0.113.5"),))
    assert service.metadata[-1]["x-forwarded-for"] == "203.0.113.5, 127.0.0.1"


def test_cancelling_a_client_call_cancels_the_backend_handler(python_backend, python_gateway):
    service, _ = python_backend
    service.cancelled.clear()
    with grpc.insecure_channel(f"127.0.0.1:{python_gateway.port}") as channel:
        call = test_pb2_grpc.TestServiceStub(channel).StreamingOutputCall(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=1, interval_us=200_000)] * 50))
        next(call)
        call.cancel()
    assert service.cancelled.wait(5), "the backend handler was not cancelled"


def test_an_expired_client_deadline_ends_the_call_at_the_deadline(python_gateway):
    with grpc.insecure_channel(f"127.0.0.1:{python_gateway.port}") as channel:
        stub = test_pb2_grpc.TestServiceStub(channel)
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            list(stub.StreamingOutputCall(messages_pb2.StreamingOutputCallRequest(
                response_parameters=[messages_pb2.ResponseParameters(size=1, interval_us=2_000_000)]), timeout=0.5))
        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 1.5


def test_idempotent_calls_survive_a_replica_dying_and_others_are_never_retried(tmp_path):
    first, second = ServerProcess("interop-server"), ServerProcess("interop-server")
    path = write_config(tmp_path, (
        f"route grpc.testing.* 127.0.0.1:{first.port} 127.0.0.1:{second.port}\nauth off\n"
        "retry /grpc.testing.TestService/UnaryCall\nhealth-interval-ms 200\n"))
    gateway = start_gateway(path)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            failures, done = [], threading.Event()

            def load():
                while not done.is_set():
                    try:
                        stub.UnaryCall(messages_pb2.SimpleRequest(response_size=10), timeout=5)
                    except grpc.RpcError as error:
                        failures.append(error.code())

            workers = [threading.Thread(target=load) for _ in range(4)]
            for worker in workers:
                worker.start()
            time.sleep(0.5)
            first.process.kill()
            time.sleep(1.5)
            done.set()
            for worker in workers:
                worker.join()
            assert failures == []
            unary = [l for l in access_lines(gateway) if l["rpc.method"].endswith("/UnaryCall")]
            assert len(unary) > 50 and all(l["rpc.status"] == "OK" for l in unary)
            assert any(int(l["attempts"]) > 1 for l in unary) or all(str(second.port) in l["replica"] for l in unary[-10:])
            # EmptyCall is not marked idempotent: when its replica is gone it fails, once.
        second.process.kill()
        time.sleep(0.3)
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            with pytest.raises(grpc.RpcError) as failure:
                test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        time.sleep(0.2)
        empty = [l for l in access_lines(gateway) if l["rpc.method"].endswith("/EmptyCall")]
        assert empty and empty[-1]["attempts"] == "1" and empty[-1]["rpc.status"] != "OK"
    finally:
        gateway.stop()
        first.stop()
        second.stop()


def test_rate_limits_answer_resource_exhausted_with_a_retry_hint(tmp_path, replicas):
    path = write_config(tmp_path, (
        f"route grpc.testing.* 127.0.0.1:{replicas[0].port}\nauth off\nrate-limit client 2 5\n"))
    gateway = start_gateway(path)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            outcomes = []
            for _ in range(12):
                try:
                    stub.EmptyCall(empty_pb2.Empty())
                    outcomes.append("ok")
                except grpc.RpcError as error:
                    outcomes.append(error)
            assert outcomes[:5] == ["ok"] * 5
            limited = [o for o in outcomes if o != "ok"]
            assert limited and all(o.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for o in limited)
            assert int(dict(limited[0].trailing_metadata())["retry-after-ms"]) > 0
    finally:
        gateway.stop()


def test_bad_configuration_fails_at_start_with_one_line(tmp_path):
    path = write_config(tmp_path, "route grpc.testing.* not-an-address\n")
    result = subprocess.run([str(BIN_DIR / "gateway"), "--config", str(path), "--port", "0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "line 1" in result.stderr and "HOST:PORT" in result.stderr


def test_sigterm_drains_a_long_stream_through_the_gateway_then_exits_zero(tmp_path, replicas):
    path = write_config(tmp_path, f"route grpc.testing.* 127.0.0.1:{replicas[0].port}\nauth off\n")
    gateway = start_gateway(path)
    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        call = test_pb2_grpc.TestServiceStub(channel).StreamingOutputCall(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=8, interval_us=150_000)] * 8), timeout=10)
        first = next(call)
        gateway.process.terminate()
        rest = list(call)
        assert len(first.payload.body) == 8 and len(rest) == 7
        assert call.code() == grpc.StatusCode.OK
    assert gateway.process.wait(timeout=10) == 0


class ScriptedService(PythonTestService):
    """A backend whose calls fail, block or count as their metadata asks:
    `x-attempt-key` names a call across its attempts, `x-fail-times: N` answers its first N
    attempts with UNAVAILABLE (with `grpc-retry-pushback-ms` from `x-pushback-ms` when given),
    `x-block` holds UnaryCall until the test releases it, `x-details: HEX` fails the call with
    those bytes as its `grpc-status-details-bin`."""

    def __init__(self):
        self.attempts = {}
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.blocked = 0
        self.calls = 0

    def _script(self, context):
        metadata = dict(context.invocation_metadata())
        if "x-details" in metadata:
            # Rich error details, as grpcio-status sends them: a serialized google.rpc.Status.
            context.set_trailing_metadata((("grpc-status-details-bin", bytes.fromhex(metadata["x-details"])),))
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "details attached")
        with self.lock:
            self.calls += 1
            key = metadata.get("x-attempt-key")
            if key is None:
                return metadata
            self.attempts.setdefault(key, []).append(time.monotonic())
            attempt = len(self.attempts[key])
        if attempt <= int(metadata.get("x-fail-times", "0")):
            if "x-pushback-ms" in metadata:
                context.set_trailing_metadata((("grpc-retry-pushback-ms", metadata["x-pushback-ms"]),))
            context.abort(grpc.StatusCode.UNAVAILABLE, f"attempt {attempt} refused on purpose")
        return metadata

    def EmptyCall(self, request, context):
        self._script(context)
        return super().EmptyCall(request, context)

    def UnaryCall(self, request, context):
        metadata = self._script(context)
        if "x-block" in metadata:
            with self.lock:
                self.blocked += 1
            self.release.wait(10)
        return super().UnaryCall(request, context)


class SwitchableHealth:
    """grpc.health.v1.Health answering whatever `status` is set to."""

    def __init__(self):
        from grpc.health.v1 import health_pb2
        self.health_pb2 = health_pb2
        self.status = health_pb2.HealthCheckResponse.SERVING

    def Check(self, request, context):
        return self.health_pb2.HealthCheckResponse(status=self.status)


def start_scripted_backend():
    from grpc.health.v1 import health_pb2_grpc
    service, health = ScriptedService(), SwitchableHealth()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    test_pb2_grpc.add_TestServiceServicer_to_server(service, server)
    handler = type("Health", (health_pb2_grpc.HealthServicer,), {"Check": health.Check})
    health_pb2_grpc.add_HealthServicer_to_server(handler(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, service, health


def test_rich_error_details_pass_through_the_gateway_unchanged(tmp_path):
    server, port, _, _ = start_scripted_backend()
    gateway = start_gateway(write_config(tmp_path, f"route grpc.testing.TestService 127.0.0.1:{port}\nauth off\n"))
    # google.rpc.Status{code: 9, message: "why", details: [Any{type_url: "t"}]}, with a 0x00 and
    # a 0xff to show the bytes are not treated as text.
    details = bytes([0x08, 0x09, 0x12, 0x03]) + b"why" + bytes([0x1A, 0x03, 0x0A, 0x01, 0x74, 0x00, 0xFF])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            for call in (stub.EmptyCall, stub.UnaryCall):
                request = empty_pb2.Empty() if call is stub.EmptyCall else messages_pb2.SimpleRequest()
                with pytest.raises(grpc.RpcError) as failed:
                    call(request, timeout=10, metadata=(("x-details", details.hex()),))
                assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert failed.value.details() == "details attached"
                assert dict(failed.value.trailing_metadata())["grpc-status-details-bin"] == details
        assert gateway.alive()
    finally:
        gateway.stop()
        server.stop(None)


def test_unavailable_in_trailers_is_retried_after_its_pushback_only_where_retries_are_allowed(tmp_path):
    server, port, service, _ = start_scripted_backend()
    gateway = start_gateway(write_config(tmp_path, (
        f"route grpc.testing.TestService 127.0.0.1:{port}\nauth off\n"
        "retry /grpc.testing.TestService/UnaryCall\n")))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            # A live backend answering UNAVAILABLE in its trailers, with a pushback: one retry,
            # no sooner than the pushback asks.
            stub.UnaryCall(messages_pb2.SimpleRequest(), timeout=5, metadata=(
                ("x-attempt-key", "pushback"), ("x-fail-times", "1"), ("x-pushback-ms", "300")))
            first, second = service.attempts["pushback"]
            assert second - first >= 0.28
            # A negative pushback means "do not retry" (gRPC's retry design, A6).
            with pytest.raises(grpc.RpcError) as refused:
                stub.UnaryCall(messages_pb2.SimpleRequest(), timeout=5, metadata=(
                    ("x-attempt-key", "negative"), ("x-fail-times", "1"), ("x-pushback-ms", "-1")))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert len(service.attempts["negative"]) == 1
            # EmptyCall is neither marked idempotent in the protos nor listed: never retried.
            with pytest.raises(grpc.RpcError) as once:
                stub.EmptyCall(empty_pb2.Empty(), timeout=5, metadata=(
                    ("x-attempt-key", "not-idempotent"), ("x-fail-times", "1")))
            assert once.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "refused on purpose" in once.value.details()
            assert len(service.attempts["not-idempotent"]) == 1
            # Attempts stop at the deadline: pushbacks that would outlast it end the call.
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as late:
                stub.UnaryCall(messages_pb2.SimpleRequest(), timeout=0.5, metadata=(
                    ("x-attempt-key", "deadline"), ("x-fail-times", "9"), ("x-pushback-ms", "2000")))
            assert late.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            assert time.monotonic() - start < 1.5 and len(service.attempts["deadline"]) == 1
    finally:
        gateway.stop()
        server.stop(grace=None)


def test_a_replica_reporting_not_serving_is_ejected_until_it_serves_again(tmp_path):
    backends = [start_scripted_backend() for _ in range(2)]
    (_, first_port, first, first_health), (_, second_port, second, _) = backends
    gateway = start_gateway(write_config(tmp_path, (
        f"route grpc.testing.TestService 127.0.0.1:{first_port} 127.0.0.1:{second_port}\nauth off\n"
        "health-interval-ms 100\n")))

    def spread(stub):
        before = (first.calls, second.calls)
        for _ in range(20):
            stub.EmptyCall(empty_pb2.Empty(), timeout=5)
        return first.calls - before[0], second.calls - before[1]

    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            on_first, on_second = spread(stub)
            assert on_first > 0 and on_second > 0 and on_first + on_second == 20
            first_health.status = first_health.health_pb2.HealthCheckResponse.NOT_SERVING
            time.sleep(0.6)
            assert spread(stub) == (0, 20)
            first_health.status = first_health.health_pb2.HealthCheckResponse.SERVING
            time.sleep(0.6)
            on_first, on_second = spread(stub)
            assert on_first > 0 and on_second > 0
    finally:
        gateway.stop()
        for server, *_ in backends:
            server.stop(grace=None)


def test_calls_beyond_max_pending_fail_at_once_with_unavailable(tmp_path):
    server, port, service, _ = start_scripted_backend()
    gateway = start_gateway(write_config(tmp_path, (
        f"route grpc.testing.TestService 127.0.0.1:{port}\nauth off\nmax-pending 2\n")))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            held = [stub.UnaryCall.future(messages_pb2.SimpleRequest(), timeout=10, metadata=(("x-block", "1"),))
                    for _ in range(2)]
            deadline = time.monotonic() + 5
            while service.blocked < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert service.blocked == 2
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as refused:
                stub.UnaryCall(messages_pb2.SimpleRequest(), timeout=5)
            assert time.monotonic() - start < 0.5
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert int(dict(refused.value.trailing_metadata())["retry-after-ms"]) > 0
            assert service.calls == 2  # the refused call never reached the backend
            service.release.set()
            for call in held:
                call.result(timeout=5)
            # Capacity is back once the held calls are done.
            stub.UnaryCall(messages_pb2.SimpleRequest(), timeout=5)
    finally:
        service.release.set()
        gateway.stop()
        server.stop(grace=None)


def test_the_client_rate_limit_counts_calls_that_fail_authentication(tmp_path, replicas):
    # Made-up tokens each cost a signature check: they use up the client's budget like any call.
    from catalog_tokens import TokenMinter
    gateway = start_gateway(write_config(tmp_path, (
        f"route grpc.testing.* 127.0.0.1:{replicas[0].port}\nauth keys {TokenMinter(kid='k').public_keys}\n"
        "rate-limit client 1 3\n")))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            codes = []
            for n in range(8):
                try:
                    stub.EmptyCall(empty_pb2.Empty(), metadata=(("authorization", f"Bearer made.up.{n}"),))
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as error:
                    codes.append(error.code())
        assert codes[:3] == [grpc.StatusCode.UNAUTHENTICATED] * 3
        assert codes[3:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 5
    finally:
        gateway.stop()


def test_tenant_rate_limits_hold_back_one_tenant_and_not_another_and_health_and_reflection_need_no_token(tmp_path, replicas):
    from catalog_tokens import TokenMinter, bearer
    minter = TokenMinter()
    gateway = start_gateway(write_config(tmp_path, (
        f"route grpc.testing.* 127.0.0.1:{replicas[0].port}\nauth keys {minter.public_keys}\n"
        "rate-limit tenant 1 3\n")))
    busy, quiet = bearer(minter.token("tenant-busy", "viewer")), bearer(minter.token("tenant-quiet", "viewer"))

    def outcome(stub, credentials):
        try:
            stub.EmptyCall(empty_pb2.Empty(), metadata=credentials, timeout=5)
            return "ok"
        except grpc.RpcError as error:
            return error

    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            first = [outcome(stub, busy) for _ in range(6)]
            assert first[:3] == ["ok"] * 3
            refused = [o for o in first if o != "ok"]
            assert refused and all(o.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for o in refused)
            assert "tenant" in refused[0].details()
            assert int(dict(refused[0].trailing_metadata())["retry-after-ms"]) > 0
            # Another tenant on the same connection has its own bucket.
            assert [outcome(stub, quiet) for _ in range(3)] == ["ok"] * 3
            # A request without a token is refused at the edge before any bucket is spent...
            with pytest.raises(grpc.RpcError) as anonymous:
                stub.EmptyCall(empty_pb2.Empty(), timeout=5)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
            # ...but health and reflection need none.
            from grpc.health.v1 import health_pb2, health_pb2_grpc
            from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            listed = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
            assert any(s.name == "grpc.testing.TestService"
                       for response in listed for s in response.list_services_response.service)
    finally:
        gateway.stop()


def test_a_reflection_client_of_the_gateway_can_describe_and_call_a_routed_method(gateway):
    from google.protobuf import descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert "grpc.testing.TestService" in database.get_services()
        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName("grpc.testing.TestService").FindMethodByName("UnaryCall")
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        request = request_class()
        request.response_size = 7
        call = channel.unary_unary("/grpc.testing.TestService/UnaryCall",
                                   request_serializer=request_class.SerializeToString,
                                   response_deserializer=response_class.FromString)
        response = call(request, timeout=5)
        assert len(response.payload.body) == 7


def test_a_backend_that_goes_away_mid_stream_ends_the_clients_call(tmp_path):
    server, port, _, _ = start_scripted_backend()
    gateway = start_gateway(write_config(tmp_path, f"route grpc.testing.TestService 127.0.0.1:{port}\nauth off\n"))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            call = test_pb2_grpc.TestServiceStub(channel).StreamingOutputCall(
                messages_pb2.StreamingOutputCallRequest(
                    response_parameters=[messages_pb2.ResponseParameters(size=1, interval_us=200_000)] * 50),
                timeout=30)
            next(call)
            start = time.monotonic()
            server.stop(grace=None)  # cancels the handler: RST_STREAM, then the connection closes
            with pytest.raises(grpc.RpcError) as ended:
                for _ in call:
                    pass
            assert ended.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
            assert time.monotonic() - start < 3
        assert gateway.alive()
    finally:
        gateway.stop()
        server.stop(grace=None)


def test_the_environment_alone_configures_the_gateway_and_wins_over_its_file(tmp_path, replicas):
    # No file at all: routes from GATEWAY_ROUTE.
    gateway = ServerProcess("gateway", "--drain-timeout", "5", env={
        "GATEWAY_ROUTE": f"grpc.testing.* 127.0.0.1:{replicas[0].port}", "GATEWAY_AUTH": "off"})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=5)
    finally:
        gateway.stop()
    # A file routing to a closed port, overridden by the environment.
    path = write_config(tmp_path, f"route grpc.testing.* 127.0.0.1:{free_port()}\nauth off\n")
    gateway = ServerProcess("gateway", "--config", str(path), "--drain-timeout", "5", env={
        "GATEWAY_ROUTE": f"grpc.testing.TestService 127.0.0.1:{replicas[1].port}"})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=5)
    finally:
        gateway.stop()
    result = subprocess.run([str(BIN_DIR / "gateway"), "--port", "0"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "GATEWAY_ROUTE": "grpc.testing.* nowhere", "GATEWAY_CONFIG": ""})
    assert result.returncode != 0 and "GATEWAY_ROUTE" in result.stderr and "HOST:PORT" in result.stderr


class ScriptedHTTP2Backend:
    """A gRPC backend written with python-h2 rather than a gRPC library, answering each method
    with the HEADERS and DATA frames a test scripts: for responses no gRPC server sends (an
    informational 1xx first, an HTTP error status carrying a grpc-status). Health checks are
    answered SERVING."""

    def __init__(self, responses):
        import socket
        self.responses = responses  # path -> [(headers, data, end_stream) or an RST_STREAM code, ...]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        import h2.config
        import h2.connection
        import h2.events
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        paths = {}
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                for event in conn.receive_data(chunk):
                    if isinstance(event, h2.events.RequestReceived):
                        paths[event.stream_id] = dict(event.headers)[":path"]
                    elif isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self._answer(conn, event.stream_id, paths.pop(event.stream_id, ""))
                sock.sendall(conn.data_to_send())
        except OSError:
            return
        finally:
            sock.close()

    def _answer(self, conn, stream_id, path):
        if path == "/grpc.health.v1.Health/Check":
            script = [([(":status", "200"), ("content-type", "application/grpc")], b"\x00\x00\x00\x00\x02\x08\x01", False),
                      ([("grpc-status", "0")], None, True)]
        else:
            script = self.responses[path]
        for step in script:
            if isinstance(step, int):  # an RST_STREAM error code
                conn.reset_stream(stream_id, error_code=step)
                return
            headers, data, end_stream = step
            conn.send_headers(stream_id, headers, end_stream=end_stream and data is None)
            if data is not None:
                conn.send_data(stream_id, data, end_stream=end_stream)

    def stop(self):
        self.listener.close()


def test_the_client_skips_informational_responses_and_maps_statuses_and_resets_as_specified(tmp_path):
    ok = [([(":status", "200"), ("content-type", "application/grpc")], b"\x00\x00\x00\x00\x00", False),
          ([("grpc-status", "0")], None, True)]
    backend = ScriptedHTTP2Backend({
        # 103 Early Hints, then the real answer: the whole 1xx header block is skipped.
        "/grpc.testing.TestService/EmptyCall": [([(":status", "103"), ("link", "</x>; rel=preload")], None, False)] + ok,
        # An HTTP error status with a grpc-status: the grpc-status is the outcome.
        "/grpc.testing.TestService/UnaryCall": [([(":status", "503"), ("content-type", "application/grpc"),
                                                  ("grpc-status", "8"), ("grpc-message", "quota")], None, True)],
        # No grpc-status: the HTTP status maps (http-grpc-status-mapping.md: 404 -> UNIMPLEMENTED).
        "/grpc.testing.TestService/StreamingOutputCall": [([(":status", "404"), ("content-type", "text/html")], b"gone", True)],
        # RST_STREAM INADEQUATE_SECURITY maps to PERMISSION_DENIED (PROTOCOL-HTTP2).
        "/grpc.testing.TestService/CacheableUnaryCall": [0xC],
        # Response headers past the 16 KiB header list the client advertised (HPACK repeats one
        # 4 000-byte field cheaply): refused, not kept.
        "/grpc.testing.TestService/UnimplementedCall": [
            ([(":status", "200"), ("content-type", "application/grpc")] + [("x-big", "v" * 4000)] * 5, None, False)] + ok[1:],
    })
    gateway = start_gateway(write_config(tmp_path, f"route grpc.testing.TestService 127.0.0.1:{backend.port}\nauth off\n"))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
            stub = test_pb2_grpc.TestServiceStub(channel)
            assert stub.EmptyCall(empty_pb2.Empty(), timeout=10) == empty_pb2.Empty()
            with pytest.raises(grpc.RpcError) as quota:
                stub.UnaryCall(messages_pb2.SimpleRequest(), timeout=10)
            assert quota.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and quota.value.details() == "quota"
            with pytest.raises(grpc.RpcError) as gone:
                list(stub.StreamingOutputCall(messages_pb2.StreamingOutputCallRequest(), timeout=10))
            assert gone.value.code() == grpc.StatusCode.UNIMPLEMENTED
            with pytest.raises(grpc.RpcError) as insecure:
                stub.CacheableUnaryCall(messages_pb2.SimpleRequest(), timeout=10)
            assert insecure.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as bloated:
                stub.UnimplementedCall(empty_pb2.Empty(), timeout=10)
            assert bloated.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "header list" in bloated.value.details()
        assert gateway.alive()
    finally:
        gateway.stop()
        backend.stop()
