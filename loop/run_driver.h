// RunDriver: plays one run, round by round, through the services' gRPC
// stubs (DESIGN.md section 2). The same code drives in-process services
// (feedloop run) and remote ones (feedloop serve loop).
//
// Each round r is one unit of commit:
//   0. Open       ranker and generator OpenRun(r)    both at the start of r
//                                                    (first and redone rounds)
//   1. Generate   generator.Generate(r)              the round's new items
//   2. Ingest     store.Ingest; ranker.AdvanceRound  durable, then indexed
//   3. Serve      ranker.RankBatch for all users     batches of rank_batch_size
//   4. Consume    simulated users read their slates
//   5. Feedback   store.LogInteractions; ranker.RecordFeedback;
//                 generator.Observe (the round's items' outcomes)
//   6. Commit     store.WriteMetrics: the round's metrics, the generator's
//                 checkpoint and rounds_done = r + 1, in one write
//   7. Finish     users absorb what they engaged; expired items leave
// "Round r is done" means step 6 was acknowledged. Every step before it is
// idempotent and deterministic given the state at the start of r, so a
// round half done when anything failed is redone from step 0: the services
// reopen the run at r (rebuilding from the store what they lost or what
// ran ahead), the loop's own state is rebuilt from the store, and the
// round's results are those it would have had without the failure. A run
// starts at its record's rounds_done, so a run another loop left is
// resumed the same way.
//
// Which failures are retried: UNAVAILABLE, DEADLINE_EXCEEDED and
// RESOURCE_EXHAUSTED of any service, and a ranker or generator that
// restarted without the run (NOT_FOUND) or a generator out of step with
// the loop (FAILED_PRECONDITION), for up to retry_budget without a
// round committed. Any other error ends the run with that error; a commit
// refused because another loop owns the run now is ABORTED.
//
// Thread-safe: one Run per driver at a time; drivers may run in parallel.

#ifndef FEEDLOOP_LOOP_RUN_DRIVER_H_
#define FEEDLOOP_LOOP_RUN_DRIVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/thread_pool.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "feedloop/v1/types.pb.h"
#include "loop/loop_state.h"
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
  struct RoundProgress {
    uint32_t round = 0;
    std::string_view stage;
    uint64_t done = 0;
    uint64_t total = 0;
  };

  struct Options {
    // Consumption and metrics fan out here; borrowed, may be null.
    ThreadPool* pool = nullptr;
    // Deadline of each service call. Default: 120 s.
    absl::Duration call_deadline = absl::Seconds(120);
    // How long to keep redoing a round whose services fail in a way worth
    // retrying. Default: 5 min.
    absl::Duration retry_budget = absl::Minutes(5);
    // The loop instance that owns the run (RunRecord.owner): rounds are
    // committed in its name, and refused once another loop adopted the
    // run. Default: "" (no ownership check).
    std::string owner;
    // Called after each round with its stage times (benchmarks). Default:
    // none.
    std::function<void(uint32_t round, const StageTimes&)> on_stage_times;
    // Called on the driver's thread as a round's long stages advance, for
    // progress reports: "ingest" after each chunk stored (items of the
    // round's), "index" as the ranker starts (0 of 1) and finishes (1 of
    // 1), "serve" after each batch of slates (users). Default: none.
    std::function<void(const RoundProgress&)> on_progress;
    // Times the stages and the retry budget, and waits between retries;
    // borrowed. Default: the system clock.
    Clock* clock = Clock::Real();
  };

  RunDriver(ServiceClients clients, const Options& options)
      : clients_(clients), options_(options) {}

  // Plays the rounds of `run` from its rounds_done to the end (its record
  // exists in the store). Calls `on_round` after each round is committed.
  // Returns CANCELLED if `stop` became true (after committing the round in
  // progress).
  absl::Status Run(const v1::RunRecord& run,
                   const std::function<void(const v1::RoundMetrics&)>& on_round,
                   const std::atomic<bool>* stop);

 private:
  class Round;

  ServiceClients clients_;
  Options options_;
};

}  // namespace feedloop::loop

#endif  // FEEDLOOP_LOOP_RUN_DRIVER_H_
