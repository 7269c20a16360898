#include "generator/generator_server.h"

#include "common/status.h"

namespace feedloop::generator {

absl::StatusOr<std::unique_ptr<GeneratorServer>> GeneratorServer::Start(
    const Options& options) {
  std::unique_ptr<GeneratorServer> s(new GeneratorServer());
  if (!options.ranker_address.empty()) {
    s->reward_ = std::make_unique<RankerRewardModel>(
        CreateChannel(options.ranker_address, options.transport));
  }
  if (!options.store_address.empty()) {
    s->store_ = std::make_unique<store::StoreClient>(
        CreateChannel(options.store_address, options.transport));
  }
  const int threads =
      options.threads > 0 ? options.threads : DefaultThreadCount();
  s->pool_ = std::make_unique<ThreadPool>(threads, options.max_queued_requests);
  s->compute_pool_ = std::make_unique<ThreadPool>(threads, 0);
  s->service_ = std::make_unique<GeneratorServiceImpl>(
      s->reward_.get(), s->store_.get(), s->pool_.get(), s->compute_pool_.get(),
      options.replay_outcomes);
  GrpcServer::Options server_options;
  server_options.listen = options.listen;
  server_options.transport = options.transport;
  server_options.telemetry = options.telemetry;
  FEEDLOOP_ASSIGN_OR_RETURN(
      s->server_, GrpcServer::Start(server_options, {s->service_.get()}));
  s->server_->SetServing(true);
  return s;
}

void GeneratorServer::Shutdown(absl::Duration grace) {
  if (server_ != nullptr) server_->Shutdown(grace);
}

GeneratorServer::~GeneratorServer() {
  Shutdown(absl::Seconds(1));
  server_.reset();
  pool_.reset();
  compute_pool_.reset();
}

}  // namespace feedloop::generator
