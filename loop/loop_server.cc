#include "loop/loop_server.h"

#include "common/status.h"
#include "glog/logging.h"

namespace feedloop::loop {

absl::StatusOr<std::unique_ptr<LoopServer>> LoopServer::Start(
    const Options& options) {
  if (options.store_address.empty() || options.ranker_address.empty() ||
      options.generator_address.empty()) {
    return absl::InvalidArgumentError(
        "loop: --store, --ranker and --generator addresses are required");
  }
  std::unique_ptr<LoopServer> s(new LoopServer());
  s->store_ = std::make_unique<store::StoreClient>(
      CreateChannel(options.store_address, options.transport));
  s->ranker_ = v1::RankerService::NewStub(CreateChannel(options.ranker_address, options.transport));
  s->generator_ =
      v1::GeneratorService::NewStub(CreateChannel(options.generator_address, options.transport));
  const int threads =
      options.threads > 0 ? options.threads : DefaultThreadCount();
  s->pool_ = std::make_unique<ThreadPool>(threads, 256);
  s->compute_pool_ = std::make_unique<ThreadPool>(threads, 0);
  ExperimentServiceImpl::Options service_options;
  service_options.clients = {s->store_.get(), s->ranker_.get(),
                             s->generator_.get()};
  service_options.request_pool = s->pool_.get();
  service_options.compute_pool = s->compute_pool_.get();
  service_options.owner = options.owner;
  service_options.lease = options.lease;
  service_options.adopt_orphans = options.adopt_orphans;
  service_options.retry_budget = options.retry_budget;
  s->service_ = std::make_unique<ExperimentServiceImpl>(service_options);
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
  GrpcServer::Options server_options;
  server_options.listen = options.listen;
  server_options.transport = options.transport;
  server_options.telemetry = options.telemetry;
  FEEDLOOP_ASSIGN_OR_RETURN(
      s->server_, GrpcServer::Start(server_options, {s->service_.get()}));
  s->server_->SetServing(true);
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

void LoopServer::Shutdown(absl::Duration grace) {
  if (server_ != nullptr) server_->Shutdown(grace);
}

LoopServer::~LoopServer() {
  Shutdown(absl::Seconds(1));
  service_.reset();  // stops and joins the runs
  server_.reset();
  pool_.reset();
  compute_pool_.reset();
}

absl::StatusOr<std::unique_ptr<EmbeddedStack>> EmbeddedStack::Start(
    const Options& options) {
  std::unique_ptr<EmbeddedStack> s(new EmbeddedStack());
  s->store_address_ = options.store_address;
  if (s->store_address_.empty()) {
    store::StoreServer::Options so;
    so.data_dir = options.data_dir;
    so.listen = options.store_listen;
    so.threads = options.threads;
    so.transport = options.transport;
    FEEDLOOP_ASSIGN_OR_RETURN(s->store_, store::StoreServer::Start(so));
    s->store_address_ = s->store_->address();
  }
  s->ranker_address_ = options.ranker_address;
  if (s->ranker_address_.empty()) {
    ranker::RankerServer::Options ro;
    ro.store_address = s->store_address_;
    ro.threads = options.threads;
    ro.transport = options.transport;
    FEEDLOOP_ASSIGN_OR_RETURN(s->ranker_, ranker::RankerServer::Start(ro));
    s->ranker_address_ = s->ranker_->address();
  }
  std::string generator_address = options.generator_address;
  if (generator_address.empty()) {
    generator::GeneratorServer::Options go;
    go.ranker_address = s->ranker_address_;
    go.store_address = s->store_address_;
    go.threads = options.threads;
    go.transport = options.transport;
    FEEDLOOP_ASSIGN_OR_RETURN(s->generator_,
                              generator::GeneratorServer::Start(go));
    generator_address = s->generator_->address();
  }
  LoopServer::Options lo;
  lo.store_address = s->store_address_;
  lo.ranker_address = s->ranker_address_;
  lo.generator_address = generator_address;
  lo.threads = options.threads;
  lo.transport = options.transport;
  lo.owner = options.owner;
  lo.lease = options.lease;
  FEEDLOOP_ASSIGN_OR_RETURN(s->loop_, LoopServer::Start(lo));
  return s;
}

EmbeddedStack::~EmbeddedStack() {
  loop_.reset();
  generator_.reset();
  ranker_.reset();
  store_.reset();
}

}  // namespace feedloop::loop
