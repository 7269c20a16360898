// What `feedloop run` leaves behind: runs/<experiment id>/metrics.csv (long
// format: run, round, metric, value, absent; an undefined value has an
// empty value and its reason), summary.json (the ExperimentSummary
// message as JSON), report.html (report/report.h) and the final table
// printed on the terminal.
//
//   FEEDLOOP_ASSIGN_OR_RETURN(ExperimentResult result,
//       CollectResults(store, started, config, wall_seconds));
//   FEEDLOOP_RETURN_IF_ERROR(WriteOutputs("runs/" + id, result));
//   std::cout << FormatTable(result.summary);

#ifndef FEEDLOOP_REPORT_OUTPUTS_H_
#define FEEDLOOP_REPORT_OUTPUTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/experiment.pb.h"
#include "feedloop/v1/summary.pb.h"
#include "report/report.h"
#include "store/store_client.h"

namespace feedloop::report {

struct ExperimentResult {
  v1::ExperimentSummary summary;
  // Every series of every run, in run order then metric order.
  std::vector<v1::Series> series;
  // The report's map of the content (report/report.h).
  report::ContentMap map;
};

// Reads the runs' records and series back from the store.
absl::StatusOr<ExperimentResult> CollectResults(
    store::StoreClient* store, const v1::StartRunResponse& started,
    const v1::ExperimentConfig& config, double wall_seconds);

// Writes metrics.csv, summary.json and report.html into `dir` (created if needed). Each
// file is written to a temporary name and renamed, so a reader never sees
// half a file.
absl::Status WriteOutputs(const std::string& dir, const ExperimentResult& result);


// One row per sweep point (or run): the key metrics at the final round,
// mean ± half the 95% interval when there are replicates.
std::string FormatTable(const v1::ExperimentSummary& summary);

}  // namespace feedloop::report

#endif  // FEEDLOOP_REPORT_OUTPUTS_H_
