// Groups runs' final metric values by sweep point, with the mean and a 95%
// confidence interval over replicates (Student t). Used by the CLI's final
// table, summary.json and DiversityService.CompareRuns.

#ifndef FEEDLOOP_METRICS_SUMMARY_H_
#define FEEDLOOP_METRICS_SUMMARY_H_

#include <string>
#include <vector>

#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/types.pb.h"

namespace feedloop::metrics {

// Which runs a figure rests on, for every comparison feedloop makes: the
// final table, summary.json and report.html, and CompareRuns (so `feedloop
// query compare` and Python's compare). A run counts when it played every
// round (DONE): a run stopped, failed or still going ended at another
// round, and its "final" value is not comparable. Runs left out are
// reported by status (CompareGroup.runs_by_status), never dropped silently.
inline constexpr char kCountedRule[] =
    "figures rest on DONE runs (every round played); runs stopped, failed or "
    "still going are counted by status and left out";
bool Counts(v1::RunStatus status);

struct RunValues {
  std::string run_id;
  std::string sweep_value;  // the group
  uint32_t sweep_point = 0;  // groups are ordered by it
  v1::RunStatus status = v1::RUN_STATUS_UNSPECIFIED;  // set it: unset never counts
  // The run's values; ignored unless the run counts.
  std::vector<v1::MetricValue> values;
};

// One group per sweep point, in point order; within a group one
// MetricSummary per metric name, sorted by name, over the runs that count
// (Counts); every run is in runs_by_status. Absent values
// (MetricValue.absent) are counted in MetricSummary.absent, not in n.
std::vector<v1::CompareGroup> GroupBySweepPoint(const std::vector<RunValues>& runs);

// The mean of `xs` with its 95% Student t interval; the interval is the
// mean itself when there is one value; n = 0 and no mean for none.
v1::MetricSummary Summarize(const std::string& metric, const std::vector<double>& xs);

// "mean ± half-interval" with three decimals, just the mean when n = 1,
// "absent" when every run's value was undefined: how tables show a
// MetricSummary.
std::string FormatMeanCi(const v1::MetricSummary& m);

// What a group's figures rest on, for tables: "3" when every run counts,
// "3 of 4 (1 STOPPED)" when some were left out.
std::string FormatRunsCounted(const v1::CompareGroup& g);

// The two-sided 95% Student t quantile for `dof` degrees of freedom.
double StudentT95(int dof);

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_SUMMARY_H_
