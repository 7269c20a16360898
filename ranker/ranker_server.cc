#include "ranker/ranker_server.h"

#include "common/status.h"
#include "glog/logging.h"

namespace feedloop::ranker {

absl::StatusOr<std::unique_ptr<RankerServer>> RankerServer::Start(
    const Options& options) {
  if (options.store_address.empty()) {
    return absl::InvalidArgumentError("ranker: --store address is required");
  }
  std::unique_ptr<RankerServer> s(new RankerServer());
  s->store_ = std::make_unique<store::StoreClient>(
      CreateChannel(options.store_address, options.transport));
  const int threads =
      options.threads > 0 ? options.threads : DefaultThreadCount();
  s->pool_ = std::make_unique<ThreadPool>(threads, options.max_queued_requests);
  // Fan-out work (per-user scoring) only ever comes from request threads,
  // which also take part, so its queue needs no bound.
  s->compute_pool_ = std::make_unique<ThreadPool>(threads, 0);
  RankerServiceImpl::Options service_options;
  service_options.compute_pool = s->compute_pool_.get();
  service_options.search_threads = options.search_threads;
  service_options.telemetry = options.telemetry;
  s->service_ = std::make_unique<RankerServiceImpl>(s->store_.get(),
                                                    s->pool_.get(),
                                                    service_options);
  GrpcServer::Options server_options;
  server_options.listen = options.listen;
  server_options.transport = options.transport;
  server_options.telemetry = options.telemetry;
  server_options.max_connection_age = options.max_connection_age;
  FEEDLOOP_ASSIGN_OR_RETURN(s->server_,
                            GrpcServer::Start(server_options, {s->service_.get()}));
  // Serving at once: a run is opened from the store when a call first
  // names it, so a replay nobody asked for never delays the others, and
  // one that fails fails only that run's calls.
  s->server_->SetServing(true);
  return s;
}

void RankerServer::Shutdown(absl::Duration grace) {
  if (server_ != nullptr) server_->Shutdown(grace);
}

RankerServer::~RankerServer() {
  Shutdown(absl::Seconds(1));
  server_.reset();
  pool_.reset();
  compute_pool_.reset();
}

}  // namespace feedloop::ranker
