// Reference peer for `make bench`: grpc.testing.TestService EmptyCall and UnaryCall served by
// gRPC C++ (Debian's libgrpc++), built from the suite's own proto/ by scripts/bench.sh.
// Usage: grpc-cpp-server PORT
#include <grpcpp/grpcpp.h>
#include <iostream>
#include <string>
#include <thread>

#include "grpc/testing/test.grpc.pb.h"

namespace {

class TestServiceImpl final : public grpc::testing::TestService::CallbackService {
  grpc::ServerUnaryReactor* EmptyCall(grpc::CallbackServerContext* context, const grpc::testing::Empty*,
                                      grpc::testing::Empty*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* UnaryCall(grpc::CallbackServerContext* context,
                                      const grpc::testing::SimpleRequest* request,
                                      grpc::testing::SimpleResponse* response) override {
    response->mutable_payload()->set_body(std::string(request->response_size(), '\0'));
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: grpc-cpp-server PORT\n";
    return 2;
  }
  std::string address = std::string("127.0.0.1:") + argv[1];
  TestServiceImpl service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::cerr << "cannot listen on " << address << "\n";
    return 1;
  }
  std::cerr << "grpc-cpp-server ready on " << address << std::endl;
  server->Wait();
  return 0;
}
