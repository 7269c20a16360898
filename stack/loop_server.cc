#include "stack/loop_server.h"

#include "common/status.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "glog/logging.h"
#include "loop/experiment_service.h"
#include "prometheus/gauge.h"
#include "rpc/server.h"
#include "rpc/telemetry.h"
#include "store/store_client.h"

namespace feedloop::stack {

struct LoopServer::Clients {
  std::unique_ptr<store::StoreClient> store;
  std::unique_ptr<v1::RankerService::Stub> ranker;
  std::unique_ptr<v1::GeneratorService::Stub> generator;
};

LoopServer::LoopServer() = default;

store::StoreClient* LoopServer::store() { return clients_->store.get(); }

absl::StatusOr<std::unique_ptr<LoopServer>> LoopServer::Start(
    const Options& options) {
  if (options.store_address.empty() || options.ranker_address.empty() ||
      options.generator_address.empty()) {
    return absl::InvalidArgumentError(
        "--store, --ranker and --generator addresses are required");
  }
  std::unique_ptr<LoopServer> s(new LoopServer());
  s->clients_ = std::make_unique<Clients>();
  s->clients_->store = std::make_unique<store::StoreClient>(
      CreateChannel(options.store_address, options.transport));
  s->clients_->ranker = v1::RankerService::NewStub(
      CreateChannel(options.ranker_address, options.transport));
  s->clients_->generator = v1::GeneratorService::NewStub(
      CreateChannel(options.generator_address, options.transport));
  s->host_ = std::make_unique<ServiceHost>(options);
  loop::ExperimentServiceImpl::Options service_options;
  service_options.clients = {s->clients_->store.get(),
                             s->clients_->ranker.get(),
                             s->clients_->generator.get()};
  service_options.request_pool = s->host_->request_pool();
  service_options.compute_pool = s->host_->compute_pool();
  service_options.owner = options.owner;
  service_options.lease = options.lease;
  service_options.adopt_orphans = options.adopt_orphans;
  service_options.retry_budget = options.retry_budget;
  service_options.memory = s->host_->memory_budget();
  service_options.memory_shared_with_services = options.memory_shared_with_services;
  s->service_ = std::make_unique<loop::ExperimentServiceImpl>(service_options);
  if (options.telemetry != nullptr) {
    // Run progress: rounds completed, per run, as they complete.
    auto* rounds = &prometheus::BuildGauge()
                        .Name("feedloop_run_rounds_done")
                        .Help("Rounds the run has completed")
                        .Register(options.telemetry->registry());
    s->service_->SetRoundListener([rounds](const v1::RoundMetrics& m) {
      rounds->Add({{"run", m.run_id()}}).Set(static_cast<double>(m.round()) + 1);
    });
  }
  FEEDLOOP_RETURN_IF_ERROR(s->host_->Serve({s->service_.get()}));
  if (options.adopt_orphans) {
    absl::StatusOr<int> adopted = s->service_->AdoptOrphans();
    if (!adopted.ok()) {
      LOG(WARNING) << "loop: adopting orphaned runs: " << adopted.status();
    } else if (*adopted > 0) {
      LOG(INFO) << "loop: adopted " << *adopted << " orphaned runs";
    }
  }
  return s;
}

LoopServer::~LoopServer() {
  Shutdown(absl::Seconds(1));
  service_.reset();  // stops and joins the runs
  if (host_ != nullptr) host_->Stop();
}

}  // namespace feedloop::stack
