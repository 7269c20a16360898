#include "stack/ranker_server.h"

#include "common/status.h"
#include "ranker/ranker_service.h"
#include "rpc/server.h"
#include "store/store_client.h"

namespace feedloop::stack {

RankerServer::RankerServer() = default;

absl::StatusOr<std::unique_ptr<RankerServer>> RankerServer::Start(
    const Options& options) {
  if (options.store_address.empty()) {
    return absl::InvalidArgumentError("--store (the store's address) is required");
  }
  std::unique_ptr<RankerServer> s(new RankerServer());
  s->store_ = std::make_unique<store::StoreClient>(
      CreateChannel(options.store_address, options.transport));
  s->host_ = std::make_unique<ServiceHost>(options);
  ranker::RankerServiceImpl::Options service_options;
  service_options.compute_pool = s->host_->compute_pool();
  service_options.search_threads = options.search_threads;
  service_options.telemetry = options.telemetry;
  service_options.memory = s->host_->memory_budget();
  s->service_ = std::make_unique<ranker::RankerServiceImpl>(
      s->store_.get(), s->host_->request_pool(), service_options);
  FEEDLOOP_RETURN_IF_ERROR(s->host_->Serve({s->service_.get()}));
  return s;
}

RankerServer::~RankerServer() {
  if (host_ != nullptr) host_->Stop();
}

}  // namespace feedloop::stack
