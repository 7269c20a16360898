#include "store/store_client.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/paging.h"
#include "common/status.h"
#include "rpc/grpc_status.h"

namespace feedloop::store {
absl::Status StoreClient::FromStoreStatus(const grpc::Status& status) {
  return Annotate(FromGrpcStatus(status), "store");
}

StoreClient::StoreClient(std::shared_ptr<grpc::Channel> channel,
                         const Options& options)
    : options_(options),
      ingest_(v1::IngestService::NewStub(channel)),
      diversity_(v1::DiversityService::NewStub(channel)) {}

void StoreClient::Prepare(grpc::ClientContext* ctx,
                          absl::Duration deadline) const {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  ctx->set_wait_for_ready(true);
}

absl::StatusOr<v1::RunRecord> StoreClient::CreateRun(const v1::RunRecord& run) {
  v1::CreateRunRequest req;
  *req.mutable_run() = run;
  return Unary<v1::RunRecord>(ingest_.get(), &v1::IngestService::Stub::CreateRun, req);
}

absl::StatusOr<v1::RunRecord> StoreClient::UpdateRun(
    const v1::UpdateRunRequest& update) {
  return Unary<v1::RunRecord>(ingest_.get(), &v1::IngestService::Stub::UpdateRun, update);
}

absl::StatusOr<v1::RunRecord> StoreClient::GetRun(const std::string& run_id) {
  v1::GetRunRequest req;
  req.set_run_id(run_id);
  return Unary<v1::RunRecord>(diversity_.get(), &v1::DiversityService::Stub::GetRun, req);
}

absl::StatusOr<std::vector<v1::RunRecord>> StoreClient::ListRuns(
    std::span<const v1::RunStatus> statuses) {
  std::vector<v1::RunRecord> out;
  v1::ListRunsRequest req;
  for (v1::RunStatus s : statuses) req.add_statuses(s);
  req.set_page_size(1000);
  FEEDLOOP_RETURN_IF_ERROR(ForEachPage<v1::ListRunsResponse>(
      req,
      [&](const v1::ListRunsRequest& page_req, v1::ListRunsResponse* page) {
        return UnaryInto(diversity_.get(), &v1::DiversityService::Stub::ListRuns,
                         page_req, page);
      },
      [&](v1::ListRunsResponse& page) {
        for (auto& run : *page.mutable_runs()) out.push_back(std::move(run));
      }));
  return out;
}

absl::Status StoreClient::Ingest(const std::string& run_id,
                                 std::span<const v1::Item> items) {
  // Parts by count and by bytes: a round at dim 4096 is 16 KB an item.
  for (const auto& [start, end] : SplitBySize(
           items.size(), options_.max_items_per_call,
           [&](size_t i) { return items[i].ByteSizeLong(); })) {
    v1::IngestRequest req;
    req.set_run_id(run_id);
    req.mutable_items()->Reserve(static_cast<int>(end - start));
    for (size_t i = start; i < end; ++i) *req.add_items() = items[i];
    FEEDLOOP_RETURN_IF_ERROR(
        Unary<v1::IngestResponse>(ingest_.get(), &v1::IngestService::Stub::Ingest, req)
            .status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Item>> StoreClient::GetItems(
    const std::string& run_id, std::span<const uint64_t> ids) {
  std::vector<v1::Item> out;
  for (size_t start = 0; start < ids.size();
       start += options_.max_items_per_call) {
    const size_t end = std::min(ids.size(), start + options_.max_items_per_call);
    v1::GetItemsRequest req;
    req.set_run_id(run_id);
    req.mutable_ids()->Add(ids.begin() + start, ids.begin() + end);
    FEEDLOOP_ASSIGN_OR_RETURN(
        v1::GetItemsResponse resp,
        Unary<v1::GetItemsResponse>(ingest_.get(), &v1::IngestService::Stub::GetItems, req));
    for (auto& item : *resp.mutable_items()) out.push_back(std::move(item));
  }
  return out;
}

absl::Status StoreClient::ScanItems(
    const std::string& run_id, uint32_t round_from,
    std::optional<uint32_t> round_to,
    const std::function<absl::Status(std::vector<v1::Item>)>& on_chunk) {
  v1::ScanItemsRequest req;
  req.set_run_id(run_id);
  req.set_round_from(round_from);
  if (round_to.has_value()) req.set_round_to(*round_to);
  req.set_chunk_size(4096);
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.scan_deadline);
  auto reader = ingest_->ScanItems(&ctx, req);
  v1::ScanItemsResponse chunk;
  absl::Status callback_status;
  while (reader->Read(&chunk)) {
    std::vector<v1::Item> items(std::make_move_iterator(chunk.mutable_items()->begin()),
                                std::make_move_iterator(chunk.mutable_items()->end()));
    callback_status = on_chunk(std::move(items));
    if (!callback_status.ok()) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!callback_status.ok()) return callback_status;
  return FromStoreStatus(s);
}

absl::Status StoreClient::LogInteractions(
    const std::string& run_id, uint32_t round,
    std::span<const v1::Interaction> interactions) {
  for (size_t start = 0; start < interactions.size();
       start += options_.max_interactions_per_call) {
    const size_t end = std::min(interactions.size(),
                                start + options_.max_interactions_per_call);
    v1::LogInteractionsRequest req;
    req.set_run_id(run_id);
    req.set_round(round);
    req.mutable_interactions()->Reserve(static_cast<int>(end - start));
    for (size_t i = start; i < end; ++i) *req.add_interactions() = interactions[i];
    FEEDLOOP_RETURN_IF_ERROR(
        Unary<v1::LogInteractionsResponse>(
            ingest_.get(), &v1::IngestService::Stub::LogInteractions, req)
            .status());
  }
  return absl::OkStatus();
}

absl::Status StoreClient::ScanInteractions(
    const std::string& run_id, uint32_t round_from,
    std::optional<uint32_t> round_to,
    const std::function<absl::Status(uint32_t, std::vector<v1::Interaction>)>&
        on_round) {
  v1::ScanInteractionsRequest req;
  req.set_run_id(run_id);
  req.set_round_from(round_from);
  if (round_to.has_value()) req.set_round_to(*round_to);
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.scan_deadline);
  auto reader = ingest_->ScanInteractions(&ctx, req);
  v1::ScanInteractionsResponse chunk;
  absl::Status callback_status;
  while (reader->Read(&chunk)) {
    if (chunk.interactions_size() == 0) continue;
    std::vector<v1::Interaction> xs(
        std::make_move_iterator(chunk.mutable_interactions()->begin()),
        std::make_move_iterator(chunk.mutable_interactions()->end()));
    callback_status = on_round(chunk.round(), std::move(xs));
    if (!callback_status.ok()) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (!callback_status.ok()) return callback_status;
  return FromStoreStatus(s);
}

absl::Status StoreClient::WriteMetrics(const v1::WriteMetricsRequest& request) {
  return Unary<v1::WriteMetricsResponse>(ingest_.get(),
                                         &v1::IngestService::Stub::WriteMetrics, request)
      .status();
}

absl::StatusOr<v1::RunRecord> StoreClient::ClaimRun(const std::string& run_id,
                                                    const std::string& owner,
                                                    absl::Duration lease) {
  v1::ClaimRunRequest req;
  req.set_run_id(run_id);
  req.set_owner(owner);
  req.set_lease_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(lease)));
  return Unary<v1::RunRecord>(ingest_.get(), &v1::IngestService::Stub::ClaimRun, req);
}

absl::StatusOr<v1::RoundCheckpoint> StoreClient::GetCheckpoint(
    const std::string& run_id, uint32_t round) {
  v1::GetCheckpointRequest req;
  req.set_run_id(run_id);
  req.set_round(round);
  return Unary<v1::RoundCheckpoint>(ingest_.get(), &v1::IngestService::Stub::GetCheckpoint,
                                    req);
}

absl::StatusOr<v1::GetSeriesResponse> StoreClient::GetSeries(
    const v1::GetSeriesRequest& request) {
  v1::GetSeriesResponse all;
  FEEDLOOP_RETURN_IF_ERROR(ForEachPage<v1::GetSeriesResponse>(
      request,
      [&](const v1::GetSeriesRequest& page_req, v1::GetSeriesResponse* page) {
        return UnaryInto(diversity_.get(), &v1::DiversityService::Stub::GetSeries,
                         page_req, page);
      },
      [&](v1::GetSeriesResponse& page) {
        for (auto& s : *page.mutable_series()) *all.add_series() = std::move(s);
      }));
  return all;
}

absl::Status StoreClient::WatchRun(
    grpc::ClientContext* ctx, const v1::WatchRunRequest& request,
    const std::function<bool(const v1::RoundMetrics&)>& on_round) {
  std::unique_ptr<grpc::ClientReader<v1::RoundMetrics>> reader =
      diversity_->WatchRun(ctx, request);
  v1::RoundMetrics round;
  while (reader->Read(&round)) {
    if (!on_round(round)) {
      ctx->TryCancel();
      break;
    }
  }
  return FromStoreStatus(reader->Finish());
}

}  // namespace feedloop::store
