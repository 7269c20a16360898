// The runs a service holds open, by run id: each run's object (a ranker, a
// generator) and the config it was opened with. The ranker and the
// generator services keep theirs in one of these, so "which runs are open
// here" is one rule: found or NOT_FOUND naming the run and the service.
//
//   RunRegistry<Ranker> runs("ranker");
//   runs.Put(run_id, config.SerializeAsString(), ranker);
//   FEEDLOOP_ASSIGN_OR_RETURN(std::shared_ptr<Ranker> r, runs.Find(run_id));
//
// Objects are shared: a call that found one keeps it alive past a Close.
// Thread-safe.

#ifndef FEEDLOOP_COMMON_RUN_REGISTRY_H_
#define FEEDLOOP_COMMON_RUN_REGISTRY_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace feedloop {

template <typename T>
class RunRegistry {
 public:
  struct Entry {
    std::string config_bytes;  // the config it was opened with, serialized
    std::shared_ptr<T> value;
    // What the run holds while open here (its memory reservation); let go
    // when the run is closed or replaced. May be null.
    std::shared_ptr<void> hold;
  };

  // `service` names the holder in messages: "ranker", "generator".
  explicit RunRegistry(std::string service) : service_(std::move(service)) {}

  // The run's object; NOT_FOUND when the run is not open here.
  absl::StatusOr<std::shared_ptr<T>> Find(const std::string& run_id) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) {
      return absl::NotFoundError(absl::StrCat("run_id: run '", run_id,
                                              "' is not open on this ",
                                              service_, " (call OpenRun)"));
    }
    return it->second.value;
  }

  // The run's entry, or nullopt when it is not open here.
  std::optional<Entry> Get(const std::string& run_id) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return std::nullopt;
    return it->second;
  }

  // Opens the run with `value` (holding `hold`), replacing what was open
  // under its id.
  void Put(const std::string& run_id, std::string config_bytes,
           std::shared_ptr<T> value, std::shared_ptr<void> hold = nullptr) {
    Entry replaced;  // let go outside the lock
    absl::MutexLock lock(&mu_);
    Entry& e = runs_[run_id];
    replaced = std::move(e);
    e = Entry{std::move(config_bytes), std::move(value), std::move(hold)};
  }

  // Closes the run; NOT_FOUND when it is not open here.
  absl::Status Close(const std::string& run_id) {
    Entry closed;  // let go outside the lock
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) {
      return absl::NotFoundError(absl::StrCat(
          "run_id: run '", run_id, "' is not open on this ", service_));
    }
    closed = std::move(it->second);
    runs_.erase(it);
    return absl::OkStatus();
  }

  size_t size() const {
    absl::ReaderMutexLock lock(&mu_);
    return runs_.size();
  }

 private:
  const std::string service_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> runs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_RUN_REGISTRY_H_
