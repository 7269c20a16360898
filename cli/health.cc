// `feedloop health HOST:PORT`: asks a server's grpc.health.v1 service
// whether it serves, as a container health check or a script would.
// Exit 0 when SERVING, 1 otherwise (unreachable, NOT_SERVING, unknown
// service), 2 for bad usage.

#include <iostream>

#include "absl/flags/flag.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "rpc/server.h"
#include "grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, service, "",
          "health: the service to ask about, e.g. feedloop.v1.RankerService; "
          "\"\" is the whole server");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(2),
          "health: how long to wait for the answer");

namespace feedloop::cli {

int HealthCommand(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::cerr << "usage: feedloop health HOST:PORT [--service NAME] "
                 "[--timeout 2s] [--tls_* ...]\n";
    return kExitUsage;
  }
  absl::StatusOr<Transport> transport = TransportFromFlags();
  if (!transport.ok()) {
    std::cerr << "feedloop health: " << transport.status().message() << "\n";
    return kExitUsage;
  }
  auto stub = grpc::health::v1::Health::NewStub(CreateChannel(args[0], *transport));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "feedloop health: " << args[0] << ": "
              << status.error_message() << "\n";
    return kExitFailure;
  }
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                   response.status())
            << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitFailure;
}

}  // namespace feedloop::cli
