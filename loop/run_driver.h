// RunDriver: plays one run, round by round, through the services' gRPC
// stubs (DESIGN.md section 2). The same code drives in-process services
// (feedloop run) and remote ones (feedloop serve loop).
//
// Each round r:
//   1. Generate   generator.Generate(r)             the round's new items
//   2. Ingest     store.Ingest; ranker.AdvanceRound  durable, then indexed
//   3. Serve      ranker.RankBatch for all users     batches of rank_batch_size
//   4. Consume    simulated users read their slates
//   5. Feedback   store.LogInteractions; ranker.RecordFeedback;
//                 generator.Observe (the round's items' outcomes)
//   6. Measure    every metric, stored with store.WriteMetrics
//
// When the ranker fails (UNAVAILABLE, or it restarted and no longer knows
// the run) the driver waits for it, reopens the run, which the ranker
// rebuilds from the store, and redoes the round's ranker steps: the round's
// results are the same as without the failure.
//
// Thread-safe: one Run per driver at a time; drivers may run in parallel.

#ifndef FEEDLOOP_LOOP_RUN_DRIVER_H_
#define FEEDLOOP_LOOP_RUN_DRIVER_H_

#include <atomic>
#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/thread_pool.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "feedloop/v1/types.pb.h"
#include "store/store_client.h"

namespace feedloop::loop {

// Wall time of each stage of one round (the numbered steps above).
struct StageTimes {
  absl::Duration generate, ingest, index, serve, consume, feedback, measure;
  absl::Duration total() const {
    return generate + ingest + index + serve + consume + feedback + measure;
  }
};

struct ServiceClients {
  store::StoreClient* store = nullptr;
  v1::RankerService::Stub* ranker = nullptr;
  v1::GeneratorService::Stub* generator = nullptr;
};

class RunDriver {
 public:
  struct Options {
    // Consumption and metrics fan out here; borrowed, may be null.
    ThreadPool* pool = nullptr;
    // Deadline of each service call. Default: 120 s.
    absl::Duration call_deadline = absl::Seconds(120);
    // How long to keep retrying a failed ranker before giving up.
    // Default: 60 s.
    absl::Duration ranker_retry_budget = absl::Seconds(60);
    // Called after each round with its stage times (benchmarks). Default:
    // none.
    std::function<void(uint32_t round, const StageTimes&)> on_stage_times;
  };

  RunDriver(ServiceClients clients, const Options& options)
      : clients_(clients), options_(options) {}

  // Plays every round of `run` (its record exists in the store). Calls
  // `on_round` after each round's metrics are stored. Returns CANCELLED if
  // `stop` became true (after finishing the round in progress).
  absl::Status Run(const v1::RunRecord& run,
                   const std::function<void(const v1::RoundMetrics&)>& on_round,
                   const std::atomic<bool>* stop);

 private:
  ServiceClients clients_;
  Options options_;
};

}  // namespace feedloop::loop

#endif  // FEEDLOOP_LOOP_RUN_DRIVER_H_
