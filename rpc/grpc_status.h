// Conversions between absl::Status and grpc::Status: the one place where
// one is made from the other. The codes map one to one.
//
//   grpc::Status s = ToGrpcStatus(store->Ingest(run, items));
//   absl::Status t = FromGrpcStatus(stub->Ingest(&ctx, req, &resp));

#ifndef FEEDLOOP_RPC_GRPC_STATUS_H_
#define FEEDLOOP_RPC_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace feedloop {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace feedloop

#endif  // FEEDLOOP_RPC_GRPC_STATUS_H_
