#include "stack/generator_server.h"

#include "common/status.h"
#include "generator/generator_service.h"
#include "generator/ranker_reward_model.h"
#include "rpc/server.h"
#include "store/store_client.h"

namespace feedloop::stack {

GeneratorServer::GeneratorServer() = default;

absl::StatusOr<std::unique_ptr<GeneratorServer>> GeneratorServer::Start(
    const Options& options) {
  std::unique_ptr<GeneratorServer> s(new GeneratorServer());
  if (!options.ranker_address.empty()) {
    s->reward_ = std::make_unique<generator::RankerRewardModel>(
        CreateChannel(options.ranker_address, options.transport));
  }
  if (!options.store_address.empty()) {
    s->store_ = std::make_unique<store::StoreClient>(
        CreateChannel(options.store_address, options.transport));
  }
  s->host_ = std::make_unique<ServiceHost>(options);
  s->service_ = std::make_unique<generator::GeneratorServiceImpl>(
      s->reward_.get(), s->store_.get(), s->host_->request_pool(),
      s->host_->compute_pool(), options.replay_outcomes, s->host_->memory_budget());
  FEEDLOOP_RETURN_IF_ERROR(s->host_->Serve({s->service_.get()}));
  return s;
}

GeneratorServer::~GeneratorServer() {
  if (host_ != nullptr) host_->Stop();
}

}  // namespace feedloop::stack
