import GRPCHealthV1Protos
import GRPCTestingProtos
import TestV1Protos
import Testing

@Suite("Generated enums")
struct EnumTests {
  @Test("case names drop the enum-name prefix and are lowerCamelCase")
  func caseNames() {
    #expect(Grpc_Testing_GrpclbRouteType.allCases == [.unknown, .fallback, .backend])
    #expect(Grpc_Health_V1_HealthCheckResponse.ServingStatus.allCases == [.unknown, .serving, .notServing, .serviceUnknown])
    #expect(Grpc_Health_V1_HealthCheckResponse.ServingStatus.serviceUnknown.rawValue == 3)
    #expect(Grpc_Testing_PayloadType.compressable.rawValue == 0)
    #expect(Test_V1_Color.negative.rawValue == -1)
    #expect(Test_V1_Outer.Mode.on.rawValue == 1)
  }

  @Test("init(rawValue:) never fails and keeps unknown numbers")
  func rawValues() {
    #expect(Test_V1_Color(rawValue: 1) == .red)
    #expect(Test_V1_Color(rawValue: -1) == .negative)
    #expect(Test_V1_Color(rawValue: 1000) == .unrecognized(1000))
    #expect(Test_V1_Color(rawValue: Int32.min).rawValue == Int32.min)
  }

  @Test("equality and hashing follow the number")
  func equalityByNumber() {
    #expect(Test_V1_Color.unrecognized(1) == .red)
    #expect(Set([Test_V1_Color.unrecognized(2), .green]).count == 1)
  }

  @Test("the default value is the first declared value")
  func defaults() {
    #expect(Test_V1_Color() == .unspecified)
    #expect(Test_V1_Scalars().color == .unspecified)
    #expect(Grpc_Health_V1_HealthCheckResponse().status == .unknown)
  }
}
