#include "stack/embedded_stack.h"

#include "common/memory_budget.h"

#include "common/status.h"
#include "loop/experiment_service.h"
#include "stack/generator_server.h"
#include "stack/loop_server.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "store/store_client.h"

namespace feedloop::stack {

EmbeddedStack::EmbeddedStack() = default;

loop::ExperimentServiceImpl* EmbeddedStack::experiments() {
  return loop_->experiments();
}
store::StoreClient* EmbeddedStack::store() { return loop_->store(); }
std::string EmbeddedStack::loop_address() const { return loop_->address(); }

absl::StatusOr<std::unique_ptr<EmbeddedStack>> EmbeddedStack::Start(
    const Options& options) {
  std::unique_ptr<EmbeddedStack> s(new EmbeddedStack());
  // One budget for the four: they share this process's memory.
  auto memory = std::make_shared<MemoryBudget>(options.memory_budget_bytes > 0
                                                   ? options.memory_budget_bytes
                                                   : MemoryBudget::DefaultLimit());
  s->store_address_ = options.store_address;
  if (s->store_address_.empty()) {
    StoreServer::Options so;
    so.data_dir = options.data_dir;
    so.listen = options.store_listen;
    so.threads = options.threads;
    so.transport = options.transport;
    so.memory_budget = memory;
    FEEDLOOP_ASSIGN_OR_RETURN(s->store_, StoreServer::Start(so));
    s->store_address_ = s->store_->address();
  }
  s->ranker_address_ = options.ranker_address;
  if (s->ranker_address_.empty()) {
    RankerServer::Options ro;
    ro.store_address = s->store_address_;
    ro.threads = options.threads;
    ro.transport = options.transport;
    ro.memory_budget = memory;
    FEEDLOOP_ASSIGN_OR_RETURN(s->ranker_, RankerServer::Start(ro));
    s->ranker_address_ = s->ranker_->address();
  }
  s->generator_address_ = options.generator_address;
  if (s->generator_address_.empty()) {
    GeneratorServer::Options go;
    go.ranker_address = s->ranker_address_;
    go.store_address = s->store_address_;
    go.threads = options.threads;
    go.transport = options.transport;
    go.memory_budget = memory;
    FEEDLOOP_ASSIGN_OR_RETURN(s->generator_, GeneratorServer::Start(go));
    s->generator_address_ = s->generator_->address();
  }
  LoopServer::Options lo;
  lo.store_address = s->store_address_;
  lo.ranker_address = s->ranker_address_;
  lo.generator_address = s->generator_address_;
  lo.threads = options.threads;
  lo.transport = options.transport;
  lo.memory_budget = memory;
  lo.memory_shared_with_services = options.ranker_address.empty() || options.generator_address.empty();
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

}  // namespace feedloop::stack
