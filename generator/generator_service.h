// GeneratorService over gRPC: one Generator per open run, coupled to the
// ranker through a RewardModel (ScoreItems over gRPC).
//
// A run opens at round 0 from its config, or at any later round from the
// store: the checkpoint committed with the round before, then that round's
// outcomes observed again from its stored items and interactions, through
// the same Observe the live path runs. A generator restarted mid-run is
// therefore the one that was lost.
//
// Handlers run on `pool`, never on reactor threads. Thread-safe.

#ifndef FEEDLOOP_GENERATOR_GENERATOR_SERVICE_H_
#define FEEDLOOP_GENERATOR_GENERATOR_SERVICE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/memory_budget.h"
#include "common/run_registry.h"
#include "common/thread_pool.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "generator/generator.h"
#include "generator/reward_model.h"
#include "store/store_client.h"

namespace feedloop::generator {

class GeneratorServiceImpl final : public v1::GeneratorService::CallbackService {
 public:
  // Borrows `reward` (may be null: then only uncoupled runs open), `store`
  // (may be null: then runs open at round 0 only), `pool` and
  // `compute_pool` (may be null).
  // `replay_outcomes` false resumes a run without observing its last
  // round's outcomes again: an ablation of the resume path, whose results
  // then differ from an uninterrupted run's.
  GeneratorServiceImpl(RewardModel* reward, store::StoreClient* store,
                       ThreadPool* pool, ThreadPool* compute_pool,
                       bool replay_outcomes = true, MemoryBudget* memory = nullptr);

  grpc::ServerUnaryReactor* OpenRun(grpc::CallbackServerContext* ctx,
                                    const v1::OpenRunRequest* request,
                                    v1::GeneratorRunState* response) override;
  grpc::ServerUnaryReactor* CloseRun(grpc::CallbackServerContext* ctx,
                                     const v1::CloseRunRequest* request,
                                     v1::CloseRunResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* ctx, const v1::GenerateRequest* request) override;

  // Items per GenerateResponse chunk.
  static constexpr size_t kItemsPerChunk = 50000;
  grpc::ServerUnaryReactor* Observe(grpc::CallbackServerContext* ctx,
                                    const v1::ObserveRequest* request,
                                    v1::ObserveResponse* response) override;

 private:
  absl::StatusOr<v1::GeneratorRunState> Open(const v1::OpenRunRequest& request);
  // A generator for the run standing at the start of `round` (> 0), from
  // the store.
  absl::StatusOr<std::unique_ptr<Generator>> Resume(const v1::OpenRunRequest& request);
  // Before a retry of a released round: its items back from the store when
  // it holds all of them (Generator::Release, Reload).
  absl::Status ReloadFromStore(Generator& generator, const std::string& run_id,
                               uint32_t round);
  absl::StatusOr<std::shared_ptr<Generator>> Find(const std::string& run_id) const;

  RewardModel* const reward_;
  store::StoreClient* const store_;
  const bool replay_outcomes_;
  // What open runs may reserve (config/cost.h); may be null (no bound).
  MemoryBudget* const memory_;
  ThreadPool* const pool_;
  ThreadPool* const compute_pool_;
  // Serializes Open, so one run is never resumed twice at once.
  absl::Mutex open_mu_;
  RunRegistry<Generator> runs_{"generator"};
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_GENERATOR_SERVICE_H_
