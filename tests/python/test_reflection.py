"""A reflection client (grpcio-reflection) discovers and calls the Swift server's methods
without the .proto files."""

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc as v1alpha_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

# v1 and v1alpha messages are identical on the wire, so v1 is called with grpcio-reflection's
# v1alpha message classes (importing our own generated v1alpha too would register the same
# descriptor twice).
v1_pb2 = v1alpha_pb2


class V1Stub:
    def __init__(self, channel):
        self.ServerReflectionInfo = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=v1alpha_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=v1alpha_pb2.ServerReflectionResponse.FromString,
        )


def test_reflection_lists_every_service(channel):
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {
        "grpc.testing.TestService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services


def test_reflection_client_describes_and_calls_a_method_without_protos(channel):
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service = pool.FindServiceByName("grpc.testing.TestService")
    method = service.methods_by_name["UnaryCall"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = request_class(response_size=42)
    call = channel.unary_unary(
        "/grpc.testing.TestService/UnaryCall",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    response = call(request)
    assert len(response.payload.body) == 42
    assert pool.FindMessageTypeByName("grpc.testing.Payload").fields_by_name["body"].number == 2
    assert pool.FindEnumTypeByName("grpc.health.v1.HealthCheckResponse.ServingStatus").values_by_name["SERVING"].number == 1


def test_v1_file_by_name_includes_dependencies_first_file_first(channel):
    stub = V1Stub(channel)
    responses = list(stub.ServerReflectionInfo(iter([v1_pb2.ServerReflectionRequest(file_by_filename="grpc/testing/test.proto")])))
    from google.protobuf import descriptor_pb2

    names = [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in responses[0].file_descriptor_response.file_descriptor_proto]
    assert names[0] == "grpc/testing/test.proto"
    assert {"grpc/testing/empty.proto", "grpc/testing/messages.proto"} <= set(names)
    assert responses[0].original_request.file_by_filename == "grpc/testing/test.proto"


@pytest.mark.parametrize(
    "symbol",
    ["grpc.testing.TestService", "grpc.testing.TestService.UnaryCall", "grpc.testing.SimpleRequest", "grpc.testing.PayloadType"],
)
def test_v1_file_containing_symbol(channel, symbol):
    stub = V1Stub(channel)
    response = next(stub.ServerReflectionInfo(iter([v1_pb2.ServerReflectionRequest(file_containing_symbol=symbol)])))
    assert response.WhichOneof("message_response") == "file_descriptor_response"


def test_unknown_symbol_and_file_are_not_found(channel):
    stub = v1alpha_grpc.ServerReflectionStub(channel)
    requests = [
        v1alpha_pb2.ServerReflectionRequest(file_containing_symbol="no.Such"),
        v1alpha_pb2.ServerReflectionRequest(file_by_filename="no/such.proto"),
        v1alpha_pb2.ServerReflectionRequest(list_services=""),
    ]
    responses = list(stub.ServerReflectionInfo(iter(requests)))
    assert [r.WhichOneof("message_response") for r in responses] == ["error_response", "error_response", "list_services_response"]
    assert responses[0].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
