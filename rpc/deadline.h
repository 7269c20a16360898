// A call's deadline, given as how long it may take. gRPC's deadlines are in
// real time whatever clock the caller runs on (common/clock.h), so this is
// the one place that turns a timeout into the system time gRPC wants.
//
//   grpc::ClientContext ctx;
//   SetTimeout(&ctx, absl::Seconds(30));

#ifndef FEEDLOOP_RPC_DEADLINE_H_
#define FEEDLOOP_RPC_DEADLINE_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"

namespace feedloop {

inline void SetTimeout(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

}  // namespace feedloop

#endif  // FEEDLOOP_RPC_DEADLINE_H_
