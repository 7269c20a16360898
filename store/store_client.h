// StoreClient: typed calls to the store process (IngestService and
// DiversityService), with deadlines, chunking of large batches and
// streaming scans. Errors come back as absl::Status with the server's code
// and message, prefixed by "store: ".
//
//   StoreClient store(CreateChannel("127.0.0.1:7001"));
//   FEEDLOOP_RETURN_IF_ERROR(store.Ingest(run_id, items));
//   FEEDLOOP_RETURN_IF_ERROR(store.ScanItems(run_id, 0, 9,
//       [&](std::vector<v1::Item> chunk) { ...; return absl::OkStatus(); }));
//
// Calls wait for the channel to become ready (up to the deadline), so a
// client may start before its store. Thread-safe.

#ifndef FEEDLOOP_STORE_STORE_CLIENT_H_
#define FEEDLOOP_STORE_STORE_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "feedloop/v1/ingest.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace feedloop::store {

class StoreClient {
 public:
  struct Options {
    // Deadline of each unary call. Default: 60 s.
    absl::Duration deadline = absl::Seconds(60);
    // Deadline of a whole scan. Default: 10 min.
    absl::Duration scan_deadline = absl::Minutes(10);
    // Largest batch per call; larger ones are split (each part is atomic on
    // its own), and items also by size (common/paging.h kMaxChunkBytes).
    // Default: 50000 items / 500000 interactions.
    size_t max_items_per_call = 50000;
    size_t max_interactions_per_call = 500000;
  };

  explicit StoreClient(std::shared_ptr<grpc::Channel> channel)
      : StoreClient(std::move(channel), Options()) {}
  StoreClient(std::shared_ptr<grpc::Channel> channel, const Options& options);

  absl::StatusOr<v1::RunRecord> CreateRun(const v1::RunRecord& run);
  absl::StatusOr<v1::RunRecord> UpdateRun(const v1::UpdateRunRequest& update);
  absl::StatusOr<v1::RunRecord> GetRun(const std::string& run_id);
  // Every run (all pages), newest first, optionally only in `statuses`.
  absl::StatusOr<std::vector<v1::RunRecord>> ListRuns(
      std::span<const v1::RunStatus> statuses = {});

  absl::Status Ingest(const std::string& run_id, std::span<const v1::Item> items);
  absl::StatusOr<std::vector<v1::Item>> GetItems(const std::string& run_id,
                                                 std::span<const uint64_t> ids);
  // Streams items with round in [round_from, round_to] (to the end when
  // round_to is nullopt) to `on_chunk`; stops at its first error.
  absl::Status ScanItems(
      const std::string& run_id, uint32_t round_from,
      std::optional<uint32_t> round_to,
      const std::function<absl::Status(std::vector<v1::Item>)>& on_chunk);

  absl::Status LogInteractions(const std::string& run_id, uint32_t round,
                               std::span<const v1::Interaction> interactions);
  // Streams interactions, one round per call of `on_round` at most (a
  // round may span several calls).
  absl::Status ScanInteractions(
      const std::string& run_id, uint32_t round_from,
      std::optional<uint32_t> round_to,
      const std::function<absl::Status(uint32_t round,
                                       std::vector<v1::Interaction>)>& on_round);

  // A round's metrics; with advance_progress, the round's commit.
  absl::Status WriteMetrics(const v1::WriteMetricsRequest& request);
  absl::StatusOr<v1::RunRecord> ClaimRun(const std::string& run_id,
                                         const std::string& owner,
                                         absl::Duration lease);
  absl::StatusOr<v1::RoundCheckpoint> GetCheckpoint(const std::string& run_id,
                                                    uint32_t round);
  // Every series the request names, across all its pages (the response's
  // next_page_token is empty).
  absl::StatusOr<v1::GetSeriesResponse> GetSeries(
      const v1::GetSeriesRequest& request);
  // Streams the run's committed rounds from request.from_round to
  // `on_round` until the run ends; stops (CANCELLED) when on_round returns
  // false or `ctx` is cancelled. `ctx` carries the deadline and, for a
  // relay, the caller's cancellation (ClientContext::FromServerContext).
  absl::Status WatchRun(grpc::ClientContext* ctx,
                        const v1::WatchRunRequest& request,
                        const std::function<bool(const v1::RoundMetrics&)>& on_round);

 private:
  void Prepare(grpc::ClientContext* ctx, absl::Duration deadline) const;

  // One unary call with the unary deadline, its status as the store's.
  template <typename Stub, typename Request, typename Response>
  absl::Status UnaryInto(Stub* stub,
                         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                      Response*),
                         const Request& request, Response* response) const {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.deadline);
    return FromStoreStatus((stub->*method)(&ctx, request, response));
  }
  template <typename Response, typename Stub, typename Request>
  absl::StatusOr<Response> Unary(
      Stub* stub,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
      const Request& request) const {
    Response response;
    absl::Status s = UnaryInto(stub, method, request, &response);
    if (!s.ok()) return s;
    return response;
  }
  // A failed call's status, its message prefixed "store: ".
  static absl::Status FromStoreStatus(const grpc::Status& status);

  const Options options_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::DiversityService::Stub> diversity_;
};

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_STORE_CLIENT_H_
