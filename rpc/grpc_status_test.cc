#include "rpc/grpc_status.h"

#include "gtest/gtest.h"

namespace feedloop {
namespace {

TEST(Status, CodesMapOneToOne) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status s(static_cast<absl::StatusCode>(code), code ? "msg" : "");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    absl::Status back = FromGrpcStatus(g);
    EXPECT_EQ(back, s);
  }
}

}  // namespace
}  // namespace feedloop
