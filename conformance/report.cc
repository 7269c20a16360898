#include "conformance/report.h"

#include "absl/strings/str_cat.h"

namespace feedloop::conformance {

bool Report::Add(std::string id, std::string requirement, absl::Status outcome,
                 Level level) {
  const bool ok = outcome.ok();
  for (Result& r : results_) {
    if (r.id != id) continue;
    // Checked again (the next round): one line, failed if any check failed.
    ++r.times;
    if (r.outcome.ok() && !ok) r.outcome = std::move(outcome);
    return ok;
  }
  results_.push_back(
      Result{std::move(id), std::move(requirement), level, std::move(outcome)});
  return ok;
}

void Report::Stop(std::string why) {
  if (stopped_.empty()) stopped_ = std::move(why);
}

const Result* Report::Find(const std::string& id) const {
  for (const Result& r : results_) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

int Report::passed_count() const {
  int n = 0;
  for (const Result& r : results_) n += r.outcome.ok();
  return n;
}

int Report::failed_count() const {
  int n = 0;
  for (const Result& r : results_) n += !r.outcome.ok() && r.level == Level::kRequired;
  return n;
}

int Report::warning_count() const {
  int n = 0;
  for (const Result& r : results_) n += !r.outcome.ok() && r.level == Level::kRecommended;
  return n;
}

std::string Report::Format() const {
  std::string out;
  for (const Result& r : results_) {
    const char* tag = r.outcome.ok() ? "PASS" : r.level == Level::kRequired ? "FAIL" : "WARN";
    absl::StrAppend(&out, tag, "  ", r.id, "  ", r.requirement,
                    r.times > 1 ? absl::StrCat(" (checked ", r.times, " times)") : "", "\n");
    if (!r.outcome.ok()) {
      absl::StrAppend(&out, "      ", r.outcome.message(), "\n");
    }
  }
  if (!stopped_.empty()) {
    absl::StrAppend(&out, "STOP  the scenario could not go on: ", stopped_, "\n");
  }
  absl::StrAppend(&out, passed() ? "conformance: passed" : "conformance: FAILED", " (",
                  passed_count(), " passed, ", failed_count(), " failed, ",
                  warning_count(), " warnings",
                  stopped_.empty() ? "" : ", stopped early", ")\n");
  return out;
}

}  // namespace feedloop::conformance
