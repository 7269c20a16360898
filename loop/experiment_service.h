// ExperimentService: starts runs of the loop (one per sweep point and
// replicate), watches and stops them. Runs execute on the service's own
// threads through a RunDriver; the store keeps their records and metrics.
//
// Ownership: a loop instance (Options::owner) claims each run it plays with
// a lease in the store (IngestService.ClaimRun) and renews it every third
// of the lease while the run is queued or playing, so a loop that dies
// leaves its runs to be adopted: AdoptOrphans (which `feedloop serve loop`
// calls at start and every lease) takes PENDING or RUNNING runs whose
// lease has expired, or that its own owner name holds from before a
// restart, and resumes each at its next round. StartRun with an existing
// experiment id continues that experiment. A run that cannot be resumed
// (its config no longer validates, the store lacks its data) ends FAILED
// with the reason.
//
//   ExperimentServiceImpl service(options);
//   FEEDLOOP_ASSIGN_OR_RETURN(v1::StartRunResponse started,
//                             service.Start(config));
//   service.WaitUntilIdle();
//
// Thread-safe. The destructor stops running runs after their current round
// and waits for them.

#ifndef FEEDLOOP_LOOP_EXPERIMENT_SERVICE_H_
#define FEEDLOOP_LOOP_EXPERIMENT_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/thread_pool.h"
#include "feedloop/v1/experiment.grpc.pb.h"
#include "common/cancellation.h"
#include "common/clock.h"
#include "common/memory_budget.h"
#include "loop/run_driver.h"

namespace feedloop::loop {

// A run as the service tracks it while it executes.
struct TrackedRun {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  std::atomic<bool> stop{false};
  // Set when this loop shuts down (not StopRun): the run is left RUNNING
  // for another loop, or this one restarted, to resume.
  std::atomic<bool> released{false};
};

class ExperimentServiceImpl final : public v1::ExperimentService::CallbackService {
 public:
  struct Options {
    ServiceClients clients;
    // Handlers run here; borrowed.
    ThreadPool* request_pool = nullptr;
    // Consumption and metrics fan out here; borrowed, may be null.
    ThreadPool* compute_pool = nullptr;
    // Most WatchRun streams at once (each holds a waiting thread).
    // Default: 64.
    int max_watchers = 64;
    // This loop instance's name in run records (RunRecord.owner); the
    // same name after a restart takes its runs back at once. Default:
    // "loop".
    std::string owner = "loop";
    // How long a claimed run stays this loop's without a renewal.
    // Default: 30 s.
    absl::Duration lease = absl::Seconds(30);
    // Adopt orphaned runs (AdoptOrphans) every lease, as well as when
    // asked. Default: false.
    bool adopt_orphans = false;
    // How long a run keeps redoing a round whose services fail in a way
    // worth retrying (RunDriver::Options::retry_budget). Default: 5 min.
    absl::Duration retry_budget = absl::Minutes(5);
    // Names experiments, times leases and adoption, and is handed to each
    // run's RunDriver; borrowed. Default: the system clock.
    Clock* clock = Clock::Real();
    // What the experiments this loop plays may reserve (config/cost.h);
    // borrowed. Default: null, no bound.
    MemoryBudget* memory = nullptr;
    // `memory` is also the ranker's and the generator's (one process):
    // StartRun then refuses at once an experiment whose runs could never
    // fit with their shares too, rather than letting their OpenRun refuse
    // it later. Default: false.
    bool memory_shared_with_services = false;
  };

  explicit ExperimentServiceImpl(const Options& options);
  ~ExperimentServiceImpl() override;

  // Validates and expands `config`, records its runs in the store (or
  // finds them, for an existing `experiment_id`), and plays them in the
  // background. INVALID_ARGUMENT names a bad field, or the estimate when
  // the experiment can never fit this loop's memory budget;
  // RESOURCE_EXHAUSTED when it does not fit beside the experiments playing
  // now; FAILED_PRECONDITION when the experiment exists with another
  // config. Stops recording runs once `cancel` fires (the caller's
  // deadline), marks those recorded STOPPED, and plays none.
  absl::StatusOr<v1::StartRunResponse> Start(const v1::ExperimentConfig& config,
                                             const std::string& experiment_id = "",
                                             const Cancellation& cancel = {});
  // Claims and resumes every run left by a loop that died (see above).
  // Returns how many it adopted.
  absl::StatusOr<int> AdoptOrphans();
  // Called after every completed round of every run (from the run's thread).
  void SetRoundListener(std::function<void(const v1::RoundMetrics&)> listener);
  // Blocks until no run is executing, or `timeout` passes; true when idle.
  bool WaitUntilIdle(absl::Duration timeout = absl::InfiniteDuration());

  grpc::ServerUnaryReactor* StartRun(grpc::CallbackServerContext* ctx,
                                     const v1::StartRunRequest* request,
                                     v1::StartRunResponse* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* ctx,
                                   const v1::GetRunRequest* request,
                                   v1::RunRecord* response) override;
  grpc::ServerWriteReactor<v1::RoundMetrics>* WatchRun(
      grpc::CallbackServerContext* ctx,
      const v1::WatchRunRequest* request) override;
  grpc::ServerUnaryReactor* StopRun(grpc::CallbackServerContext* ctx,
                                    const v1::StopRunRequest* request,
                                    v1::RunRecord* response) override;

 private:
  // Executes the runs of one StartRun, `parallel` at a time.
  void ExecuteSweep(std::vector<v1::RunRecord> runs, int parallel,
                    std::shared_ptr<MemoryBudget::Reservation> memory);
  void ExecuteRun(const v1::RunRecord& run);
  // Marks the runs a cancelled Start recorded STOPPED, and returns `why`
  // saying so.
  absl::Status AbandonRecorded(const std::vector<v1::RunRecord>& recorded, size_t planned,
                               const absl::Status& why);
  // Queues `runs` (claimed already) on a thread of their own, holding
  // `memory` (their reservation) until they are done.
  void Launch(std::vector<v1::RunRecord> runs, int parallel,
              std::shared_ptr<MemoryBudget::Reservation> memory = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What playing `configs` `parallel` at a time reserves here; null
  // without a budget.
  absl::StatusOr<std::shared_ptr<MemoryBudget::Reservation>> Reserve(
      const std::vector<const v1::ExperimentConfig*>& configs, int parallel,
      absl::string_view what);
  // Renews the lease of every run this loop holds, until shutdown.
  void RenewLeases();
  std::shared_ptr<TrackedRun> Find(const std::string& run_id) const;

  const Options options_;
  std::atomic<int> watchers_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<TrackedRun>> runs_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> sweeps_ ABSL_GUARDED_BY(mu_);
  int executing_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void(const v1::RoundMetrics&)> listener_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread renewer_;
};

}  // namespace feedloop::loop

#endif  // FEEDLOOP_LOOP_EXPERIMENT_SERVICE_H_
