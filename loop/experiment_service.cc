#include "loop/experiment_service.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "config/config.h"
#include "config/cost.h"
#include "glog/logging.h"
#include "rpc/deadline.h"
#include "rpc/grpc_status.h"
#include "rpc/reactors.h"
#include "store/run_status.h"
#include "store/store_client.h"

namespace feedloop::loop {
namespace {

// Ids like "coupling-20261124-140312-7f3a": readable, sortable, unique
// enough for one store (the suffix is random; it never affects results).
std::string NewId(const std::string& name, absl::Time now) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t salt =
      DeriveSeed(static_cast<uint64_t>(absl::ToUnixNanos(now)),
                 counter.fetch_add(1));
  std::string prefix = name.empty() ? "run" : name;
  for (char& c : prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) c = '-';
  }
  if (prefix.size() > 32) prefix.resize(32);
  return absl::StrCat(prefix, "-",
                      absl::FormatTime("%Y%m%d-%H%M%S", now,
                                       absl::UTCTimeZone()),
                      "-", absl::StrFormat("%04x", salt & 0xffff));
}

// What an experiment id may be: a run id with room for ".p<i>r<j>".
bool IsValidId(const std::string& id) {
  if (id.empty() || id.size() > 48) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}


}  // namespace

ExperimentServiceImpl::ExperimentServiceImpl(const Options& options)
    : options_(options), renewer_([this] { RenewLeases(); }) {}

ExperimentServiceImpl::~ExperimentServiceImpl() {
  std::vector<std::thread> sweeps;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (auto& [id, run] : runs_) {
      run->released = true;
      run->stop = true;
    }
    sweeps.swap(sweeps_);
  }
  for (std::thread& t : sweeps) t.join();
  renewer_.join();
}

void ExperimentServiceImpl::RenewLeases() {
  absl::Time next_adoption = options_.clock->Now() + options_.lease;
  absl::MutexLock lock(&mu_);
  while (!shutting_down_) {
    mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), options_.lease / 3);
    if (shutting_down_) break;
    if (options_.adopt_orphans && options_.clock->Now() >= next_adoption) {
      next_adoption = options_.clock->Now() + options_.lease;
      mu_.Unlock();
      absl::StatusOr<int> adopted = AdoptOrphans();
      if (!adopted.ok()) LOG(WARNING) << "adopting orphaned runs: " << adopted.status();
      mu_.Lock();
      if (shutting_down_) break;
    }
    std::vector<std::string> held;
    for (const auto& [id, run] : runs_) {
      absl::MutexLock run_lock(&run->mu);
      if (!run->done) held.push_back(id);
    }
    mu_.Unlock();
    for (const std::string& id : held) {
      absl::Status s =
          options_.clients.store->ClaimRun(id, options_.owner, options_.lease).status();
      if (!s.ok()) LOG(WARNING) << "run " << id << ": renewing its lease: " << s;
    }
    mu_.Lock();
  }
}

void ExperimentServiceImpl::SetRoundListener(
    std::function<void(const v1::RoundMetrics&)> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

std::shared_ptr<TrackedRun> ExperimentServiceImpl::Find(
    const std::string& run_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = runs_.find(run_id);
  return it == runs_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<MemoryBudget::Reservation>> ExperimentServiceImpl::Reserve(
    const std::vector<const v1::ExperimentConfig*>& configs, int parallel,
    absl::string_view what) {
  if (options_.memory == nullptr || configs.empty()) return nullptr;
  if (options_.memory_shared_with_services) {
    // The ranker and the generator reserve their own shares when they open
    // each run; all three must fit the one budget.
    FEEDLOOP_RETURN_IF_ERROR(config::CheckFits(
        config::Service::kLoop,
        config::ExperimentMemory(configs, parallel,
                                 {config::Service::kLoop, config::Service::kRanker,
                                  config::Service::kGenerator}),
        absl::StrCat(what, " with its ranker and generator"), *options_.memory));
  }
  const config::MemoryEstimate total =
      config::ExperimentMemory(configs, parallel, {config::Service::kLoop});
  FEEDLOOP_ASSIGN_OR_RETURN(
      MemoryBudget::Reservation r,
      config::Admit(config::Service::kLoop, total, what, *options_.memory));
  return std::make_shared<MemoryBudget::Reservation>(std::move(r));
}

absl::StatusOr<v1::StartRunResponse> ExperimentServiceImpl::Start(
    const v1::ExperimentConfig& config, const std::string& experiment_id,
    const Cancellation& cancel) {
  FEEDLOOP_RETURN_IF_ERROR(config::ValidateConfig(config));
  if (!experiment_id.empty() && !IsValidId(experiment_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "experiment_id: '", experiment_id,
        "' is not 1 to 48 characters of [A-Za-z0-9._-]"));
  }
  // The run records alone, before the sweep is expanded into them.
  const uint64_t planned =
      config.has_sweep()
          ? uint64_t(config.sweep().values_size()) * config.sweep().replicates()
          : 1;
  if (options_.memory != nullptr) {
    const uint64_t bytes = planned * config::RunRecordBytes(config);
    const config::MemoryEstimate records{
        bytes, {{absl::StrCat(planned, " run records (sweep.values x sweep.replicates)"),
                 bytes}}};
    FEEDLOOP_RETURN_IF_ERROR(
        config::Admit(config::Service::kLoop, records, "the experiment", *options_.memory)
            .status());
  }
  FEEDLOOP_ASSIGN_OR_RETURN(std::vector<config::RunSpec> specs,
                            config::ExpandSweep(config));
  std::vector<const v1::ExperimentConfig*> configs;
  for (const config::RunSpec& spec : specs) configs.push_back(&spec.config);
  const int parallel = static_cast<int>(config.execution().parallel_runs());
  FEEDLOOP_ASSIGN_OR_RETURN(std::shared_ptr<MemoryBudget::Reservation> memory,
                            Reserve(configs, parallel, "the experiment"));
  v1::StartRunResponse response;
  std::vector<v1::RunRecord> records;
  const bool sweep = config.has_sweep();
  const std::string id =
      experiment_id.empty() ? NewId(config.name(), options_.clock->Now()) : experiment_id;
  const std::string sweep_id = sweep ? id : "";
  response.set_sweep_id(sweep_id);
  for (const config::RunSpec& spec : specs) {
    if (absl::Status alive = cancel.Check(); !alive.ok()) {
      return AbandonRecorded(records, specs.size(), alive);
    }
    v1::RunRecord run;
    run.set_run_id(sweep ? absl::StrCat(sweep_id, ".p", spec.sweep_point, "r",
                                        spec.replicate)
                         : id);
    absl::StatusOr<v1::RunRecord> existing = options_.clients.store->GetRun(run.run_id());
    if (existing.ok()) {
      // A run of this experiment from before: continued, if it is the same.
      if (existing->config().SerializeAsString() != spec.config.SerializeAsString()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "experiment '", id, "' exists with another config (run ", run.run_id(),
            " differs); continue it with the config it was started with, or pick "
            "another id"));
      }
      response.add_run_ids(existing->run_id());
      if (store::IsFinished(existing->status())) continue;
      response.set_resumed(response.resumed() + 1);
      records.push_back(*std::move(existing));
      continue;
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
    run.set_sweep_id(sweep_id);
    *run.mutable_config() = spec.config;
    run.set_status(v1::PENDING);
    run.set_sweep_value(spec.sweep_value);
    run.set_sweep_parameter(config.sweep().parameter());
    run.set_sweep_point(spec.sweep_point);
    run.set_replicate(spec.replicate);
    absl::StatusOr<v1::RunRecord> created = options_.clients.store->CreateRun(run);
    if (!created.ok()) return AbandonRecorded(records, specs.size(), created.status());
    response.add_run_ids(created->run_id());
    records.push_back(*std::move(created));
  }
  absl::MutexLock lock(&mu_);
  Launch(std::move(records), parallel, std::move(memory));
  return response;
}

absl::Status ExperimentServiceImpl::AbandonRecorded(const std::vector<v1::RunRecord>& recorded,
                                                    size_t planned, const absl::Status& why) {
  const std::string error = absl::StrCat(
      "StartRun ended (", why.message(), ") after ", recorded.size(), " of ", planned,
      " runs were recorded; none was played. Start the experiment again.");
  for (const v1::RunRecord& run : recorded) {
    if (run.status() != v1::PENDING || !run.owner().empty()) continue;  // resumed
    v1::UpdateRunRequest update;
    update.set_run_id(run.run_id());
    update.set_status(v1::STOPPED);
    update.set_error(error);
    absl::Status s = options_.clients.store->UpdateRun(update).status();
    if (!s.ok()) LOG(WARNING) << "run " << run.run_id() << " left PENDING: " << s;
  }
  return absl::Status(why.code(), error);
}

absl::StatusOr<int> ExperimentServiceImpl::AdoptOrphans() {
  const v1::RunStatus open[] = {v1::PENDING, v1::RUNNING};
  FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::RunRecord> runs,
                            options_.clients.store->ListRuns(open));
  const int64_t now = absl::ToUnixMillis(options_.clock->Now());
  std::vector<v1::RunRecord> adopted;
  for (v1::RunRecord& run : runs) {
    if (Find(run.run_id()) != nullptr) continue;  // playing here already
    const bool orphan = run.owner() == options_.owner ||
                        (!run.owner().empty() && run.lease_expires_unix_ms() <= now) ||
                        (run.owner().empty() && run.status() == v1::RUNNING);
    if (!orphan) continue;
    LOG(INFO) << "loop " << options_.owner << ": adopting run " << run.run_id()
              << " at round " << run.rounds_done()
              << (run.owner().empty() ? "" : absl::StrCat(" (left by ", run.owner(), ")"));
    adopted.push_back(std::move(run));
  }
  // Played one after another, as one sweep reserving its largest run; when
  // that does not fit they are left for a loop with room.
  if (adopted.empty()) return 0;
  std::vector<const v1::ExperimentConfig*> configs;
  for (const v1::RunRecord& run : adopted) configs.push_back(&run.config());
  absl::StatusOr<std::shared_ptr<MemoryBudget::Reservation>> memory =
      Reserve(configs, 1, absl::StrCat(adopted.size(), " orphaned runs"));
  if (!memory.ok()) {
    LOG(WARNING) << "loop " << options_.owner << ": not adopting " << adopted.size()
                 << " runs now: " << memory.status();
    return 0;
  }
  const int n = static_cast<int>(adopted.size());
  absl::MutexLock lock(&mu_);
  Launch(std::move(adopted), 1, *std::move(memory));
  return n;
}

void ExperimentServiceImpl::Launch(std::vector<v1::RunRecord> runs, int parallel,
                                   std::shared_ptr<MemoryBudget::Reservation> memory) {
  if (runs.empty()) return;
  for (const v1::RunRecord& r : runs) runs_[r.run_id()] = std::make_shared<TrackedRun>();
  ++executing_;
  sweeps_.emplace_back(
      [this, runs = std::move(runs), parallel, memory = std::move(memory)]() mutable {
        ExecuteSweep(std::move(runs), parallel, std::move(memory));
      });
}

void ExperimentServiceImpl::ExecuteSweep(std::vector<v1::RunRecord> runs, int parallel,
                                         std::shared_ptr<MemoryBudget::Reservation> memory) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(1); i < runs.size(); i = next.fetch_add(1)) {
      ExecuteRun(runs[i]);
    }
  };
  std::vector<std::thread> workers;
  for (int w = 1; w < parallel && w < static_cast<int>(runs.size()); ++w) {
    workers.emplace_back(worker);
  }
  worker();
  for (std::thread& t : workers) t.join();
  memory.reset();  // before WaitUntilIdle can see the loop idle
  absl::MutexLock lock(&mu_);
  --executing_;
}

void ExperimentServiceImpl::ExecuteRun(const v1::RunRecord& queued) {
  std::shared_ptr<TrackedRun> state = Find(queued.run_id());
  auto finish = [&] {
    absl::MutexLock lock(&state->mu);
    state->done = true;
  };
  // Ours until the lease ends (renewed while we play it); the record as it
  // stands now, to resume from.
  absl::StatusOr<v1::RunRecord> claimed =
      options_.clients.store->ClaimRun(queued.run_id(), options_.owner, options_.lease);
  if (!claimed.ok()) {
    LOG(WARNING) << "run " << queued.run_id() << " not played here: "
                 << claimed.status();
    finish();
    return;
  }
  const v1::RunRecord& run = *claimed;
  v1::UpdateRunRequest update;
  update.set_run_id(run.run_id());
  update.set_owner(options_.owner);
  absl::Status status = config::ValidateConfig(run.config());
  if (!status.ok()) {
    status = absl::FailedPreconditionError(absl::StrCat(
        "cannot be resumed: its config no longer validates (", status.message(), ")"));
  }
  if (status.ok()) {
    update.set_status(v1::RUNNING);
    status = options_.clients.store->UpdateRun(update).status();
  }
  if (status.ok() && !state->stop) {
    RunDriver::Options driver_options;
    driver_options.pool = options_.compute_pool;
    driver_options.owner = options_.owner;
    driver_options.retry_budget = options_.retry_budget;
    driver_options.clock = options_.clock;
    RunDriver driver(options_.clients, driver_options);
    status = driver.Run(
        run,
        [&](const v1::RoundMetrics& round) {
          std::function<void(const v1::RoundMetrics&)> listener;
          {
            absl::ReaderMutexLock lock(&mu_);
            listener = listener_;
          }
          if (listener) listener(round);
        },
        &state->stop);
  } else if (status.ok()) {
    status = absl::CancelledError("stopped before it started");
  }
  if (absl::IsAborted(status) || (absl::IsCancelled(status) && state->released)) {
    // Another loop holds the run now, or this one is shutting down and
    // leaves the run to be resumed: its record is not ours to end.
    LOG(WARNING) << "run " << run.run_id() << " left for a loop to resume: " << status;
    finish();
    return;
  }
  update.set_status(status.ok()                ? v1::DONE
                    : absl::IsCancelled(status) ? v1::STOPPED
                                                : v1::FAILED);
  if (!status.ok() && !absl::IsCancelled(status)) {
    update.set_error(std::string(status.message()));
    LOG(ERROR) << "run " << run.run_id() << " failed: " << status;
  }
  absl::Status recorded = options_.clients.store->UpdateRun(update).status();
  if (!recorded.ok()) {
    LOG(ERROR) << "run " << run.run_id() << ": cannot record its end: " << recorded;
  }
  // Free the services' memory of the run; the store keeps everything.
  // Best effort: a service that restarted has nothing to free.
  v1::CloseRunRequest close;
  close.set_run_id(run.run_id());
  v1::CloseRunResponse closed;
  {
    grpc::ClientContext ctx;
    SetTimeout(&ctx, absl::Seconds(10));
    (void)options_.clients.ranker->CloseRun(&ctx, close, &closed);
  }
  {
    grpc::ClientContext ctx;
    SetTimeout(&ctx, absl::Seconds(10));
    (void)options_.clients.generator->CloseRun(&ctx, close, &closed);
  }
  finish();
}

bool ExperimentServiceImpl::WaitUntilIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(
      absl::Condition(
          +[](ExperimentServiceImpl* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->executing_ == 0;
          },
          this),
      timeout);
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::StartRun(
    grpc::CallbackServerContext* ctx, const v1::StartRunRequest* request,
    v1::StartRunResponse* response) {
  return ServeUnary(ctx, options_.request_pool, *request,
                    [this, request, response](const Cancellation& cancel) -> absl::Status {
                      FEEDLOOP_ASSIGN_OR_RETURN(
                          *response,
                          Start(request->config(), request->experiment_id(), cancel));
                      return absl::OkStatus();
                    });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::GetRun(
    grpc::CallbackServerContext* ctx, const v1::GetRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, options_.request_pool, *request,
                    [this, request, response]() -> absl::Status {
                      FEEDLOOP_ASSIGN_OR_RETURN(
                          *response,
                          options_.clients.store->GetRun(request->run_id()));
                      return absl::OkStatus();
                    });
}

grpc::ServerUnaryReactor* ExperimentServiceImpl::StopRun(
    grpc::CallbackServerContext* ctx, const v1::StopRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, options_.request_pool, *request,
                    [this, request, response]() -> absl::Status {
                      std::shared_ptr<TrackedRun> run = Find(request->run_id());
                      if (run == nullptr) {
                        return absl::NotFoundError(absl::StrCat(
                            "run_id: run '", request->run_id(),
                            "' is not running on this loop"));
                      }
                      run->stop = true;
                      FEEDLOOP_ASSIGN_OR_RETURN(
                          *response,
                          options_.clients.store->GetRun(request->run_id()));
                      return absl::OkStatus();
                    });
}

grpc::ServerWriteReactor<v1::RoundMetrics>* ExperimentServiceImpl::WatchRun(
    grpc::CallbackServerContext* ctx, const v1::WatchRunRequest* request) {
  // The store's committed rounds are the one source: this relays its
  // WatchRun (query::RunQueries::Watch), so a watch here sees every round
  // the run has committed, whichever loop played it. The relayed call
  // carries this call's deadline and is cancelled with it.
  if (watchers_.fetch_add(1) >= options_.max_watchers) {
    watchers_.fetch_sub(1);
    return new RefusedWriteReactor<v1::RoundMetrics>(OverloadedStatus());
  }
  store::StoreClient* store = options_.clients.store;
  return new ThreadedWriteReactor<v1::RoundMetrics>(
      [store, ctx, req = *request](const auto& send, const auto&) {
        std::unique_ptr<grpc::ClientContext> upstream =
            grpc::ClientContext::FromCallbackServerContext(*ctx);
        return ToGrpcStatus(store->WatchRun(upstream.get(), req, send));
      },
      &watchers_);
}

}  // namespace feedloop::loop
