// Report: what a conformance check found, one line per requirement.
//
//   Report report;
//   report.Add("ranker.open", "OpenRun at round 0 succeeds", status);
//   std::cout << report.Format();
//   return report.passed() ? 0 : 1;
//
// A requirement is either required (the loop relies on it; a failure fails
// the check) or recommended (determinism and the like: runs still work
// without it, they just do not replay; a failure is a warning).
//
// Not thread-safe.

#ifndef FEEDLOOP_CONFORMANCE_REPORT_H_
#define FEEDLOOP_CONFORMANCE_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace feedloop::conformance {

enum class Level { kRequired, kRecommended };

struct Result {
  // Stable and short, e.g. "ranker.expiry", so scripts and tests can name it.
  std::string id;
  // What is required, in words.
  std::string requirement;
  Level level = Level::kRequired;
  // OK when met; otherwise what was seen instead (the first failure).
  absl::Status outcome;
  // How many times it was checked (once a round, for some).
  int times = 1;
};

class Report {
 public:
  // Records one requirement's outcome; returns outcome.ok(). A requirement
  // checked again (same id) stays one result, failed if any check failed.
  bool Add(std::string id, std::string requirement, absl::Status outcome,
           Level level = Level::kRequired);
  // The scenario could not go on after `why` (a requirement later ones
  // build on failed): says so in the report, which then fails.
  void Stop(std::string why);

  const std::vector<Result>& results() const { return results_; }
  // The result with this id, or null.
  const Result* Find(const std::string& id) const;
  int passed_count() const;
  int failed_count() const;   // required, not met
  int warning_count() const;  // recommended, not met
  // Every required requirement met, and the scenario ran to its end.
  bool passed() const { return failed_count() == 0 && stopped_.empty(); }

  // "PASS  id  requirement" lines (FAIL and WARN with what was seen
  // indented below), then a summary line.
  std::string Format() const;

 private:
  std::vector<Result> results_;
  std::string stopped_;
};

}  // namespace feedloop::conformance

#endif  // FEEDLOOP_CONFORMANCE_REPORT_H_
