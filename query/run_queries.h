// The questions asked of the runs in a store, answered from an ItemStore:
// which runs there are, their metric series, a comparison of sweep points
// over the last rounds, the content metrics of any embeddings, and the
// rounds of a run as they are committed. DiversityService is this over
// gRPC; the logic is here, free of RPC, so that it is tested directly.
//
//   RunQueries queries(store);
//   FEEDLOOP_ASSIGN_OR_RETURN(v1::CompareRunsResponse c, queries.Compare(req));
//
// Borrows the store. Thread-safe.

#ifndef FEEDLOOP_QUERY_RUN_QUERIES_H_
#define FEEDLOOP_QUERY_RUN_QUERIES_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/cancellation.h"
#include "feedloop/v1/diversity.pb.h"

namespace feedloop {
namespace store {
class ItemStore;
}  // namespace store

namespace query {

class RunQueries {
 public:
  explicit RunQueries(store::ItemStore* store) : store_(store) {}

  // Limits of one request.
  static constexpr size_t kMaxRunIdsPerCall = 1000;

  absl::StatusOr<v1::ListRunsResponse> ListRuns(
      const v1::ListRunsRequest& request) const;
  absl::StatusOr<v1::RunRecord> GetRun(const v1::GetRunRequest& request) const;
  absl::StatusOr<v1::GetSeriesResponse> GetSeries(
      const v1::GetSeriesRequest& request) const;
  absl::StatusOr<v1::CompareRunsResponse> Compare(
      const v1::CompareRunsRequest& request) const;
  // Stops with `cancel`'s status between its stages (reading the items,
  // the run's tail reference, measuring) once the caller has gone.
  absl::StatusOr<v1::EvaluateResponse> Evaluate(const v1::EvaluateRequest& request,
                                                const Cancellation& cancel = {}) const;

  // Sends each committed round of the run from `from_round` on, as the
  // store commits it, until the run ends (OK) or `send` returns false or
  // `cancelled()` is true (CANCELLED). NOT_FOUND for an unknown run.
  using Send = std::function<bool(const v1::RoundMetrics&)>;
  absl::Status Watch(const v1::WatchRunRequest& request, const Send& send,
                     const std::function<bool()>& cancelled) const;

 private:
  store::ItemStore* const store_;
};

}  // namespace query
}  // namespace feedloop

#endif  // FEEDLOOP_QUERY_RUN_QUERIES_H_
