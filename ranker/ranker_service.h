// RankerService over gRPC: one Ranker per open run, rebuilt from the store.
//
//   StoreClient store(CreateChannel(store_address));
//   RankerServiceImpl service(&store, &request_pool, options);
//   GrpcServer::Start(server_options, {&service});
//
// A run is opened with OpenRun, or when a call first names it, by replaying
// its completed rounds from the store (store/round_log.h); AdvanceRound
// pulls the round's items from the store, so the store stays the one
// source of truth and a restarted ranker reaches the same state by the
// same path. A run that cannot be opened (its config no longer validates,
// its data is missing) fails that run's calls with the reason, and only
// those. Calls for a run the store does not know are NOT_FOUND.
//
// Handlers run on `pool`, never on reactor threads. Thread-safe.

#ifndef FEEDLOOP_RANKER_RANKER_SERVICE_H_
#define FEEDLOOP_RANKER_RANKER_SERVICE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rpc/telemetry.h"
#include "common/memory_budget.h"
#include "common/run_registry.h"
#include "common/thread_pool.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "ranker/ranker.h"
#include "store/store_client.h"

namespace feedloop::ranker {

class RankerServiceImpl final : public v1::RankerService::CallbackService {
 public:
  struct Options {
    // Pool that RankBatch and ScoreItems fan out on; borrowed, may be null.
    // Default: null.
    ThreadPool* compute_pool = nullptr;
    // OpenMP threads per FAISS search; 0 means FAISS's default. Default: 0.
    int search_threads = 0;
    // Publishes each open run's index gauges (feedloop_index_live_items,
    // feedloop_index_rebuilds, feedloop_ranker_round, labelled by run)
    // after OpenRun, AdvanceRound and CloseRun; borrowed, may be null.
    // Default: null.
    Telemetry* telemetry = nullptr;
    // What the open runs may reserve (config/cost.h): a run that does not
    // fit is refused at OpenRun, or when a request would open it; borrowed,
    // may be null (no bound). Default: null.
    MemoryBudget* memory = nullptr;
  };

  // Borrows `store` and `pool`; both must outlive the service.
  RankerServiceImpl(store::StoreClient* store, ThreadPool* pool,
                    const Options& options);

  // In-process access, for the embedded form and tests.
  absl::StatusOr<v1::RankerRunState> OpenRun(const v1::OpenRunRequest& request);
  absl::StatusOr<std::shared_ptr<Ranker>> Find(const std::string& run_id) const;

  grpc::ServerUnaryReactor* OpenRun(grpc::CallbackServerContext* ctx,
                                    const v1::OpenRunRequest* request,
                                    v1::RankerRunState* response) override;
  grpc::ServerUnaryReactor* CloseRun(grpc::CallbackServerContext* ctx,
                                     const v1::CloseRunRequest* request,
                                     v1::CloseRunResponse* response) override;
  grpc::ServerUnaryReactor* AdvanceRound(grpc::CallbackServerContext* ctx,
                                         const v1::AdvanceRoundRequest* request,
                                         v1::RankerRunState* response) override;
  grpc::ServerUnaryReactor* Retrieve(grpc::CallbackServerContext* ctx,
                                     const v1::RetrieveRequest* request,
                                     v1::RetrieveResponse* response) override;
  grpc::ServerUnaryReactor* Rank(grpc::CallbackServerContext* ctx,
                                 const v1::RankRequest* request,
                                 v1::RankResponse* response) override;
  grpc::ServerUnaryReactor* RankBatch(grpc::CallbackServerContext* ctx,
                                      const v1::RankBatchRequest* request,
                                      v1::RankBatchResponse* response) override;
  grpc::ServerUnaryReactor* ScoreItems(grpc::CallbackServerContext* ctx,
                                       const v1::ScoreItemsRequest* request,
                                       v1::ScoreItemsResponse* response) override;
  grpc::ServerUnaryReactor* RecordFeedback(
      grpc::CallbackServerContext* ctx, const v1::RecordFeedbackRequest* request,
      v1::RecordFeedbackResponse* response) override;

 private:
  absl::StatusOr<v1::RankerRunState> AdvanceRoundImpl(
      const v1::AdvanceRoundRequest& request);
  // OpenRun with open_mu_ held.
  absl::StatusOr<v1::RankerRunState> OpenRunLocked(
      const v1::OpenRunRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(open_mu_);
  // Where a request needs the run's ranker to stand (see ranker.proto,
  // "Replicas"): reads see exactly the state their round names, at the
  // start of the round (ScoreItems: the rounds before it fed back) or with
  // its items indexed (Retrieve, Rank, RankBatch); writes may find their
  // step applied already (AdvanceRound, RecordFeedback: a retry).
  enum class Need { kStartOfRound, kIndexed, kStartOfRoundOrLater, kIndexedOrLater };
  // The run's ranker, brought to where a request of `round` needs it: what
  // this replica missed is applied from the store, a run it never saw is
  // opened from the store's record, and one ahead of a read's round (the
  // round is being redone after a failure) is rebuilt at that round. No
  // round: the ranker as it is, opened from the store if need be.
  absl::StatusOr<std::shared_ptr<Ranker>> At(const std::string& run_id,
                                             std::optional<uint32_t> round,
                                             Need need);
  // Builds a ranker for `config` and replays the store's rounds up to
  // `position` (2r: round r not started; 2r+1: its items indexed). First
  // reserves the run's estimated memory, which `*hold` keeps (the
  // registry's entry holds it while the run is open); Admit's status when
  // it does not fit.
  absl::StatusOr<std::shared_ptr<Ranker>> Replay(
      const std::string& run_id, const v1::ExperimentConfig& config,
      uint64_t position, std::shared_ptr<void>* hold);
  // Applies to `ranker`, one step at a time, the store's items and
  // interactions of the rounds after where it stands, until its position
  // (2r+1: round r indexed; 2r+2: and its feedback recorded) reaches `want`.
  // The same steps, in the same order, as the live calls.
  absl::Status CatchUp(const std::string& run_id, Ranker& ranker, uint64_t want);
  // Reads round `round`'s items from the store and indexes them.
  absl::Status IndexRound(const std::string& run_id, Ranker& ranker, uint32_t round);
  static v1::RankerRunState StateOf(const std::string& run_id,
                                    const Ranker& ranker);
  // Sets the run's gauges from its ranker (zero once it is closed).
  void Publish(const std::string& run_id);

  store::StoreClient* const store_;
  ThreadPool* const pool_;
  const Options options_;

  // Serializes OpenRun, so one run is never replayed twice at once.
  absl::Mutex open_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  RunRegistry<Ranker> runs_{"ranker"};
  mutable absl::Mutex mu_;
  // Runs that could not be opened from the store, and why (not retryable
  // errors only); cleared by an OpenRun of the run.
  absl::flat_hash_map<std::string, absl::Status> failed_ ABSL_GUARDED_BY(mu_);

  // With options.telemetry only; the families live in its registry.
  prometheus::Family<prometheus::Gauge>* live_items_ = nullptr;
  prometheus::Family<prometheus::Gauge>* rebuilds_ = nullptr;
  prometheus::Family<prometheus::Gauge>* round_ = nullptr;
};

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_RANKER_SERVICE_H_
