#include "rpc/service_host.h"

#include "common/memory_budget.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "rpc/server.h"

namespace feedloop {
namespace {

int ThreadsOf(const ServingOptions& options) {
  return options.threads > 0 ? options.threads : DefaultThreadCount();
}

}  // namespace

ServiceHost::ServiceHost(const ServingOptions& options)
    : options_(options),
      request_pool_(std::make_unique<ThreadPool>(ThreadsOf(options),
                                                 options.max_queued_requests,
                                                 options.max_queued_bytes)),
      memory_budget_(options.memory_budget != nullptr
                         ? options.memory_budget
                         : std::make_shared<MemoryBudget>(MemoryBudget::DefaultLimit())) {}

ServiceHost::~ServiceHost() { Stop(); }

ThreadPool* ServiceHost::compute_pool() {
  if (compute_pool_ == nullptr) {
    compute_pool_ = std::make_unique<ThreadPool>(ThreadsOf(options_), 0);
  }
  return compute_pool_.get();
}

absl::Status ServiceHost::Serve(const std::vector<grpc::Service*>& services) {
  GrpcServer::Options server_options;
  server_options.listen = options_.listen;
  server_options.transport = options_.transport;
  server_options.telemetry = options_.telemetry;
  server_options.max_connection_age = options_.max_connection_age;
  FEEDLOOP_ASSIGN_OR_RETURN(server_, GrpcServer::Start(server_options, services));
  server_->SetServing(true);
  return absl::OkStatus();
}

std::string ServiceHost::address() const {
  return server_ == nullptr ? "" : server_->address();
}

void ServiceHost::Shutdown(absl::Duration grace) {
  if (server_ != nullptr) server_->Shutdown(grace);
}

void ServiceHost::Stop() {
  Shutdown(absl::Seconds(1));
  server_.reset();
  request_pool_.reset();
  compute_pool_.reset();
}

}  // namespace feedloop
