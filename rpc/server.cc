#include "rpc/server.h"

#include <signal.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace feedloop {
namespace {

// Splits "host:port" or "[v6]:port" at the last colon.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(
    const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address '", address, "': expected host:port, e.g. 127.0.0.1:0"));
  }
  return std::make_pair(address.substr(0, colon), port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const Options& options, const std::vector<grpc::Service*>& services) {
  auto host_port = SplitHostPort(options.listen);
  if (!host_port.ok()) return host_port.status();

  // Both are process-wide switches that only take effect for builders made
  // after them; setting them again is harmless.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int bound_port = 0;
  if (!options.transport.can_serve()) {
    return absl::InvalidArgumentError(
        "tls: a server needs its certificate and key (--tls_cert, --tls_key)");
  }
  builder.AddListeningPort(options.listen, options.transport.ServerCredentials(),
                           &bound_port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  if (options.max_connection_age != absl::InfiniteDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               30 * 60 * 1000);
  }
  for (grpc::Service* service : services) builder.RegisterService(service);
  if (options.telemetry != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(options.telemetry->InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     " (address in use, or not an address of this host?)"));
  }
  auto* result = new GrpcServer(std::move(server), host_port->first,
                                bound_port);
  result->SetServing(false);
  return std::unique_ptr<GrpcServer>(result);
}

GrpcServer::GrpcServer(std::unique_ptr<grpc::Server> server, std::string host,
                       int port)
    : server_(std::move(server)), host_(std::move(host)), port_(port) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

std::string GrpcServer::address() const {
  // A wildcard bind is reachable on loopback.
  const std::string host =
      (host_ == "0.0.0.0" || host_ == "[::]" || host_.empty()) ? "127.0.0.1"
                                                               : host_;
  return absl::StrCat(host, ":", port_);
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(serving);
  }
}

void GrpcServer::SetServing(const std::string& service_name, bool serving) {
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(service_name, serving);
  }
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_.exchange(true)) return;
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoNanoseconds(grace));
  server_->Wait();
}

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int signal_number = 0;
  sigwait(&set, &signal_number);
  return signal_number;
}

std::shared_ptr<grpc::Channel> CreateChannel(const std::string& address,
                                             const Transport& transport,
                                             int max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  // Calls spread over every address the name resolves to (the ranker's
  // replicas behind a headless Service); one address behaves as before.
  args.SetLoadBalancingPolicyName("round_robin");
  // A restarted service is reached within a couple of seconds, not after
  // gRPC's default backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, transport.ChannelCredentials(), args);
}

}  // namespace feedloop
