#include "store/store_service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rpc/reactors.h"
#include "common/paging.h"
#include "common/status.h"
#include "config/config.h"
#include "config/cost.h"
#include "common/vectors.h"
#include "rpc/grpc_status.h"

namespace feedloop::store {
namespace {

constexpr uint32_t kDefaultChunk = 1024;
constexpr uint32_t kMaxChunk = 65536;

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
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    // A run is stored only with a config that would run: the same check
    // as StartRun's and the services' OpenRun.
    FEEDLOOP_RETURN_IF_ERROR(
        Annotate(config::ValidateConfig(request->run().config()), "run.config"));
    if (memory_ != nullptr) {
      // The store holds no run in memory: a comparison, no reservation.
      FEEDLOOP_RETURN_IF_ERROR(config::CheckFits(
          config::Service::kStore,
          config::EstimateRunMemory(request->run().config(), config::Service::kStore),
          "the run", *memory_));
    }
    FEEDLOOP_RETURN_IF_ERROR(store_->CreateRun(request->run()));
    FEEDLOOP_ASSIGN_OR_RETURN(*response, store_->GetRun(request->run().run_id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::UpdateRun(
    grpc::CallbackServerContext* ctx, const v1::UpdateRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, store_->UpdateRun(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::Ingest(
    grpc::CallbackServerContext* ctx, const v1::IngestRequest* request,
    v1::IngestResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_RETURN_IF_ERROR(store_->Ingest(request->run_id(), request->items()));
    response->set_count(request->items_size());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetItems(
    grpc::CallbackServerContext* ctx, const v1::GetItemsRequest* request,
    v1::GetItemsResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
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
      [this, request, cursor = std::move(cursor), max_items = size_t{0}](
          v1::ScanItemsResponse* out, const Cancellation&) mutable -> absl::StatusOr<bool> {
        FEEDLOOP_ASSIGN_OR_RETURN(uint32_t chunk,
                                  ChunkSize(request->chunk_size()));
        if (cursor == nullptr) {
          FEEDLOOP_ASSIGN_OR_RETURN(
              cursor, store_->ScanItems(request->run_id(), request->round_from(),
                                        request->has_round_to()
                                            ? request->round_to()
                                            : UINT32_MAX));
          // A chunk of at most kMaxChunkBytes: an item is its embedding,
          // a title of at most 1024 characters, and a few numbers.
          FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, store_->GetRun(request->run_id()));
          max_items = RowsPerChunk(size_t{run.config().space().dim()} * 4 + 1100, chunk);
        }
        std::vector<v1::Item> items;
        items.reserve(max_items);
        FEEDLOOP_ASSIGN_OR_RETURN(bool more, cursor->Next(max_items, &items));
        for (v1::Item& item : items) *out->add_items() = std::move(item);
        return more;
      });
}

grpc::ServerUnaryReactor* IngestServiceImpl::LogInteractions(
    grpc::CallbackServerContext* ctx, const v1::LogInteractionsRequest* request,
    v1::LogInteractionsResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
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
          v1::ScanInteractionsResponse* out, const Cancellation&) mutable -> absl::StatusOr<bool> {
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
  return ServeUnary(ctx, pool_, *request, [this, request]() -> absl::Status {
    return store_->WriteMetrics(*request);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ClaimRun(
    grpc::CallbackServerContext* ctx, const v1::ClaimRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        *response, store_->ClaimRun(request->run_id(), request->owner(),
                                    absl::Milliseconds(request->lease_ms())));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetCheckpoint(
    grpc::CallbackServerContext* ctx, const v1::GetCheckpointRequest* request,
    v1::RoundCheckpoint* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        *response, store_->GetCheckpoint(request->run_id(), request->round()));
    return absl::OkStatus();
  });
}

}  // namespace feedloop::store
