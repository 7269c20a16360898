#include "store/store_service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/reactors.h"
#include "common/status.h"

namespace feedloop::store {
namespace {

constexpr uint32_t kDefaultChunk = 1024;
constexpr uint32_t kMaxChunk = 65536;
constexpr size_t kMaxRunIdsPerCall = 1000;

// Page tokens are offsets into a deterministic ordering, as decimal text.
absl::StatusOr<size_t> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  size_t offset = 0;
  if (!absl::SimpleAtoi(token, &offset)) {
    return absl::InvalidArgumentError(
        "page_token: not a token returned by this service");
  }
  return offset;
}

absl::StatusOr<uint32_t> ChunkSize(uint32_t asked) {
  if (asked == 0) return kDefaultChunk;
  if (asked > kMaxChunk) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk_size: ", asked, " exceeds the limit of ", kMaxChunk));
  }
  return asked;
}

}  // namespace

// ------------------------------------------------------------ IngestService

grpc::ServerUnaryReactor* IngestServiceImpl::CreateRun(
    grpc::CallbackServerContext* ctx, const v1::CreateRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_RETURN_IF_ERROR(store_->CreateRun(request->run()));
    FEEDLOOP_ASSIGN_OR_RETURN(*response, store_->GetRun(request->run().run_id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::UpdateRun(
    grpc::CallbackServerContext* ctx, const v1::UpdateRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, store_->UpdateRun(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::Ingest(
    grpc::CallbackServerContext* ctx, const v1::IngestRequest* request,
    v1::IngestResponse* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_RETURN_IF_ERROR(store_->Ingest(request->run_id(), request->items()));
    response->set_count(request->items_size());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetItems(
    grpc::CallbackServerContext* ctx, const v1::GetItemsRequest* request,
    v1::GetItemsResponse* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::vector<v1::Item> items,
        store_->GetItems(request->run_id(),
                         std::span<const uint64_t>(request->ids().data(),
                                                   request->ids_size())));
    for (v1::Item& item : items) *response->add_items() = std::move(item);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::ScanItemsResponse>* IngestServiceImpl::ScanItems(
    grpc::CallbackServerContext* ctx, const v1::ScanItemsRequest* request) {
  std::unique_ptr<ItemCursor> cursor;
  return new ChunkedWriteReactor<v1::ScanItemsResponse>(
      ctx, pool_,
      [this, request, cursor = std::move(cursor)](
          v1::ScanItemsResponse* out) mutable -> absl::StatusOr<bool> {
        FEEDLOOP_ASSIGN_OR_RETURN(uint32_t chunk,
                                  ChunkSize(request->chunk_size()));
        if (cursor == nullptr) {
          FEEDLOOP_ASSIGN_OR_RETURN(
              cursor, store_->ScanItems(request->run_id(), request->round_from(),
                                        request->has_round_to()
                                            ? request->round_to()
                                            : UINT32_MAX));
        }
        std::vector<v1::Item> items;
        items.reserve(chunk);
        FEEDLOOP_ASSIGN_OR_RETURN(bool more, cursor->Next(chunk, &items));
        for (v1::Item& item : items) *out->add_items() = std::move(item);
        return more;
      });
}

grpc::ServerUnaryReactor* IngestServiceImpl::LogInteractions(
    grpc::CallbackServerContext* ctx, const v1::LogInteractionsRequest* request,
    v1::LogInteractionsResponse* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_RETURN_IF_ERROR(store_->LogInteractions(
        request->run_id(), request->round(), request->interactions()));
    response->set_count(request->interactions_size());
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::ScanInteractionsResponse>*
IngestServiceImpl::ScanInteractions(
    grpc::CallbackServerContext* ctx,
    const v1::ScanInteractionsRequest* request) {
  std::unique_ptr<InteractionCursor> cursor;
  return new ChunkedWriteReactor<v1::ScanInteractionsResponse>(
      ctx, pool_,
      [this, request, cursor = std::move(cursor)](
          v1::ScanInteractionsResponse* out) mutable -> absl::StatusOr<bool> {
        if (cursor == nullptr) {
          FEEDLOOP_ASSIGN_OR_RETURN(
              cursor, store_->ScanInteractions(
                          request->run_id(), request->round_from(),
                          request->has_round_to() ? request->round_to()
                                                  : UINT32_MAX));
        }
        std::vector<v1::Interaction> chunk;
        uint32_t round = 0;
        FEEDLOOP_ASSIGN_OR_RETURN(bool more,
                                  cursor->Next(kMaxChunk, &round, &chunk));
        out->set_round(round);
        for (v1::Interaction& x : chunk) {
          *out->add_interactions() = std::move(x);
        }
        return more;
      });
}

grpc::ServerUnaryReactor* IngestServiceImpl::WriteMetrics(
    grpc::CallbackServerContext* ctx, const v1::WriteMetricsRequest* request,
    v1::WriteMetricsResponse* response) {
  return ServeUnary(ctx, pool_, [this, request]() -> absl::Status {
    return store_->WriteMetrics(request->run_id(), request->round(),
                                request->values(),
                                request->advance_progress());
  });
}

// --------------------------------------------------------- DiversityService

grpc::ServerUnaryReactor* DiversityServiceImpl::ListRuns(
    grpc::CallbackServerContext* ctx, const v1::ListRunsRequest* request,
    v1::ListRunsResponse* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    if (request->page_size() > 1000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "page_size: ", request->page_size(), " exceeds the limit of 1000"));
    }
    const size_t page_size = request->page_size() ? request->page_size() : 100;
    FEEDLOOP_ASSIGN_OR_RETURN(size_t offset,
                              ParsePageToken(request->page_token()));
    FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::RunRecord> runs,
                              store_->ListRuns());
    std::vector<v1::RunRecord> kept;
    for (v1::RunRecord& run : runs) {
      if (!request->sweep_id().empty() && run.sweep_id() != request->sweep_id())
        continue;
      if (request->statuses_size() > 0 &&
          std::find(request->statuses().begin(), request->statuses().end(),
                    run.status()) == request->statuses().end())
        continue;
      if (run.created_unix_ms() < request->created_after_unix_ms()) continue;
      kept.push_back(std::move(run));
    }
    for (size_t i = offset; i < kept.size() && i < offset + page_size; ++i) {
      *response->add_runs() = std::move(kept[i]);
    }
    if (offset + page_size < kept.size()) {
      response->set_next_page_token(absl::StrCat(offset + page_size));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DiversityServiceImpl::GetRun(
    grpc::CallbackServerContext* ctx, const v1::GetRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, store_->GetRun(request->run_id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DiversityServiceImpl::GetSeries(
    grpc::CallbackServerContext* ctx, const v1::GetSeriesRequest* request,
    v1::GetSeriesResponse* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    if (request->run_ids().empty()) {
      return absl::InvalidArgumentError("run_ids: name at least one run");
    }
    if (static_cast<size_t>(request->run_ids_size()) > kMaxRunIdsPerCall) {
      return absl::InvalidArgumentError(
          absl::StrCat("run_ids: ", request->run_ids_size(),
                       " runs exceed the limit of ", kMaxRunIdsPerCall));
    }
    const uint32_t round_to =
        request->has_round_to() ? request->round_to() : UINT32_MAX;
    if (request->round_from() > round_to) {
      return absl::InvalidArgumentError(
          absl::StrCat("round_from: ", request->round_from(),
                       " is after round_to ", round_to));
    }
    const size_t page_size = request->page_size() ? request->page_size() : 1000;
    FEEDLOOP_ASSIGN_OR_RETURN(size_t offset,
                              ParsePageToken(request->page_token()));
    std::vector<std::string> metrics(request->metrics().begin(),
                                     request->metrics().end());
    std::vector<v1::Series> all;
    for (const std::string& run_id : request->run_ids()) {
      FEEDLOOP_ASSIGN_OR_RETURN(
          std::vector<v1::Series> series,
          store_->ReadSeries(run_id, metrics, request->round_from(), round_to));
      for (v1::Series& s : series) all.push_back(std::move(s));
    }
    // A named metric that no run has is a mistake worth reporting.
    for (const std::string& m : metrics) {
      const bool prefix = !m.empty() && m.back() == '.';
      const bool seen = std::any_of(all.begin(), all.end(), [&](const auto& s) {
        return prefix ? s.metric().rfind(m, 0) == 0 : s.metric() == m;
      });
      if (!seen) {
        return absl::NotFoundError(
            absl::StrCat("metrics: no series named '", m, "' in these runs"));
      }
    }
    for (size_t i = offset; i < all.size() && i < offset + page_size; ++i) {
      *response->add_series() = std::move(all[i]);
    }
    if (offset + page_size < all.size()) {
      response->set_next_page_token(absl::StrCat(offset + page_size));
    }
    return absl::OkStatus();
  });
}

}  // namespace feedloop::store
