#include "generator/generator_service.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "rpc/reactors.h"
#include "common/paging.h"
#include "common/status.h"
#include "config/config.h"
#include "config/cost.h"
#include "model/outcomes.h"
#include "store/round_log.h"

namespace feedloop::generator {

GeneratorServiceImpl::GeneratorServiceImpl(RewardModel* reward,
                                           store::StoreClient* store,
                                           ThreadPool* pool, ThreadPool* compute_pool,
                                           bool replay_outcomes, MemoryBudget* memory)
    : reward_(reward),
      store_(store),
      replay_outcomes_(replay_outcomes),
      memory_(memory),
      pool_(pool),
      compute_pool_(compute_pool) {}

absl::StatusOr<std::shared_ptr<Generator>> GeneratorServiceImpl::Find(
    const std::string& run_id) const {
  return runs_.Find(run_id);
}

absl::StatusOr<v1::GeneratorRunState> GeneratorServiceImpl::Open(
    const v1::OpenRunRequest& request) {
  FEEDLOOP_RETURN_IF_ERROR(config::ValidateConfig(request.config()));
  const std::string config_bytes = request.config().SerializeAsString();
  absl::MutexLock lock(&open_mu_);
  const auto open = runs_.Get(request.run_id());
  if (open.has_value() && open->config_bytes != config_bytes) {
    return absl::AlreadyExistsError(absl::StrCat(
        "run_id: run '", request.run_id(), "' is already open with a different config"));
  }
  if (open.has_value()) {
    // Ready for the round, or holding its items: nothing to do. Anywhere
    // else (the round is being redone after a failure): resume it anew.
    const v1::GeneratorRunState state = open->value->state();
    if (state.next_round() == request.round() + (state.generated() ? 1 : 0)) {
      return state;
    }
  }
  // Resumed in place of its open self (the same config, checked above):
  // it keeps the reservation it has.
  std::shared_ptr<void> hold = open.has_value() ? open->hold : nullptr;
  if (hold == nullptr) {
    FEEDLOOP_ASSIGN_OR_RETURN(hold, config::HoldRun(request.config(),
                                                    config::Service::kGenerator,
                                                    request.run_id(), memory_));
  }
  std::unique_ptr<Generator> generator;
  if (request.round() == 0) {
    Generator::Options options;
    options.pool = compute_pool_;
    FEEDLOOP_ASSIGN_OR_RETURN(
        generator, Generator::Create(request.run_id(), request.config(), reward_, options));
  } else {
    FEEDLOOP_ASSIGN_OR_RETURN(generator, Resume(request));
  }
  std::shared_ptr<Generator> shared(std::move(generator));
  runs_.Put(request.run_id(), config_bytes, shared, std::move(hold));
  return shared->state();
}

absl::StatusOr<std::unique_ptr<Generator>> GeneratorServiceImpl::Resume(
    const v1::OpenRunRequest& request) {
  const std::string& run_id = request.run_id();
  const uint32_t last = request.round() - 1;
  if (store_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round: run '", run_id, "' is at round ", request.round(),
        ", but this generator has no store to resume it from (--store)"));
  }
  const std::string context =
      absl::StrCat("generator: resuming run '", run_id, "' at round ", request.round());
  absl::StatusOr<v1::RoundCheckpoint> committed = store_->GetCheckpoint(run_id, last);
  if (!committed.ok()) return Annotate(committed.status(), context);
  v1::GeneratorCheckpoint checkpoint;
  if (!checkpoint.ParseFromString(committed->generator()) || checkpoint.round() != last) {
    return absl::FailedPreconditionError(absl::StrCat(
        context, ": the checkpoint of round ", last, " is not this generator's"));
  }
  FEEDLOOP_ASSIGN_OR_RETURN(
      store::StoredRound round,
      store::ReadRound(*store_, run_id, last, store::kRoundItems | store::kRoundInteractions));
  Generator::Options options;
  options.pool = compute_pool_;
  FEEDLOOP_ASSIGN_OR_RETURN(
      std::unique_ptr<Generator> generator,
      Generator::Create(run_id, request.config(), reward_, options));
  FEEDLOOP_RETURN_IF_ERROR(
      Annotate(generator->Restore(checkpoint, std::move(round.items)), context));
  const std::vector<v1::ItemOutcome> outcomes =
      replay_outcomes_ ? model::OutcomesOf(last, round.interactions) : std::vector<v1::ItemOutcome>();
  FEEDLOOP_RETURN_IF_ERROR(Annotate(generator->Observe(last, outcomes), context));
  return generator;
}

absl::Status GeneratorServiceImpl::ReloadFromStore(Generator& generator,
                                                   const std::string& run_id,
                                                   uint32_t round) {
  if (store_ == nullptr || !generator.Released(round)) return absl::OkStatus();
  // A retry of a round streamed whole: the store holds all of it when the
  // loop got as far as storing it (and may have indexed it since, so it
  // cannot be drawn again); otherwise Generate draws it again.
  absl::StatusOr<store::StoredRound> stored =
      store::ReadRound(*store_, run_id, round, store::kRoundItems);
  const std::string context =
      absl::StrCat("generator: run '", run_id, "' round ", round, " from the store");
  if (absl::IsNotFound(stored.status())) return absl::OkStatus();  // nothing stored
  if (!stored.ok()) return Annotate(stored.status(), context);
  if (stored->items.size() != generator.ItemsInRound(round)) return absl::OkStatus();
  return Annotate(generator.Reload(round, std::move(stored->items)), context);
}

grpc::ServerUnaryReactor* GeneratorServiceImpl::OpenRun(
    grpc::CallbackServerContext* ctx, const v1::OpenRunRequest* request,
    v1::GeneratorRunState* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, Open(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GeneratorServiceImpl::CloseRun(
    grpc::CallbackServerContext* ctx, const v1::CloseRunRequest* request,
    v1::CloseRunResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request]() -> absl::Status {
    return runs_.Close(request->run_id());
  });
}

grpc::ServerWriteReactor<v1::GenerateResponse>* GeneratorServiceImpl::Generate(
    grpc::CallbackServerContext* ctx, const v1::GenerateRequest* request) {
  // The first fill generates the whole round (on the pool) and keeps the
  // generator's compact copy of it, shared; each fill then makes one chunk
  // of it in wire form.
  struct Round {
    std::shared_ptr<Generator> generator;
    std::shared_ptr<const RoundItems> items;
    size_t next = 0;
    uint64_t drawn = 0;
  };
  return new ChunkedWriteReactor<v1::GenerateResponse>(
      ctx, pool_,
      [this, run_id = request->run_id(), round_number = request->round(),
       round = std::make_shared<Round>()](
          v1::GenerateResponse* chunk, const Cancellation& cancel) -> absl::StatusOr<bool> {
        if (round->items == nullptr) {
          FEEDLOOP_ASSIGN_OR_RETURN(round->generator, Find(run_id));
          FEEDLOOP_RETURN_IF_ERROR(ReloadFromStore(*round->generator, run_id, round_number));
          FEEDLOOP_ASSIGN_OR_RETURN(
              round->items, round->generator->Generate(round_number, &round->drawn, cancel));
          chunk->set_candidates_drawn(round->drawn);
        }
        // At most kItemsPerChunk items and kMaxChunkBytes (a round at dim
        // 4096 is 16 KB an item), at least one.
        const RoundItems& items = *round->items;
        size_t bytes = 0;
        for (size_t n = 0; round->next < items.size() && n < kItemsPerChunk; ++n) {
          v1::Item item = round->generator->ItemAt(items, round->next);
          const size_t b = item.ByteSizeLong();
          if (n > 0 && bytes + b > kMaxChunkBytes) break;
          bytes += b;
          *chunk->add_items() = std::move(item);
          ++round->next;
        }
        const bool more = round->next < items.size();
        // Handed on whole: the generator need not hold it while the loop
        // stores, indexes and serves it (a retry finds it in the store).
        if (!more && store_ != nullptr) round->generator->Release(round_number);
        return more;
      });
}

grpc::ServerUnaryReactor* GeneratorServiceImpl::Observe(
    grpc::CallbackServerContext* ctx, const v1::ObserveRequest* request,
    v1::ObserveResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(std::shared_ptr<Generator> generator,
                              Find(request->run_id()));
    std::vector<v1::ItemOutcome> outcomes(request->outcomes().begin(),
                                          request->outcomes().end());
    FEEDLOOP_RETURN_IF_ERROR(generator->Observe(request->round(), outcomes));
    *response->mutable_state() = generator->state();
    FEEDLOOP_ASSIGN_OR_RETURN(v1::GeneratorCheckpoint checkpoint, generator->Checkpoint());
    response->set_checkpoint(checkpoint.SerializeAsString());
    return absl::OkStatus();
  });
}

}  // namespace feedloop::generator
