#include "store/store_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/reactors.h"
#include "common/random.h"
#include "common/status.h"
#include "common/vectors.h"
#include "metrics/catalog.h"
#include "metrics/content.h"
#include "metrics/diversity.h"
#include "metrics/round_recorder.h"
#include "metrics/summary.h"
#include "model/topic_space.h"
#include "store/run_status.h"

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
    return store_->WriteMetrics(*request);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ClaimRun(
    grpc::CallbackServerContext* ctx, const v1::ClaimRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        *response, store_->ClaimRun(request->run_id(), request->owner(),
                                    absl::Milliseconds(request->lease_ms())));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetCheckpoint(
    grpc::CallbackServerContext* ctx, const v1::GetCheckpointRequest* request,
    v1::RoundCheckpoint* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        *response, store_->GetCheckpoint(request->run_id(), request->round()));
    return absl::OkStatus();
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
      const bool seen = std::any_of(all.begin(), all.end(), [&](const auto& s) {
        return metrics::MatchesFilter(s.metric(), m);
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

absl::StatusOr<v1::CompareRunsResponse> DiversityServiceImpl::Compare(
    const v1::CompareRunsRequest& request) const {
  if (request.run_ids().empty() == request.sweep_id().empty()) {
    return absl::InvalidArgumentError(
        "run_ids, sweep_id: give the runs to compare or a sweep id, not both");
  }
  std::vector<v1::RunRecord> runs;
  if (!request.sweep_id().empty()) {
    FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::RunRecord> all, store_->ListRuns());
    for (v1::RunRecord& r : all) {
      if (r.sweep_id() == request.sweep_id()) runs.push_back(std::move(r));
    }
    if (runs.empty()) {
      return absl::NotFoundError(
          absl::StrCat("sweep_id: no runs in sweep '", request.sweep_id(), "'"));
    }
  } else {
    for (const std::string& id : request.run_ids()) {
      FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord r, store_->GetRun(id));
      runs.push_back(std::move(r));
    }
  }
  const uint32_t window = std::max<uint32_t>(1, request.window());
  std::vector<std::string> metrics(request.metrics().begin(),
                                   request.metrics().end());
  std::vector<metrics::RunValues> values;
  std::set<std::string> seen;
  for (const v1::RunRecord& run : runs) {
    if (run.rounds_done() == 0) continue;
    const uint32_t from = run.rounds_done() > window ? run.rounds_done() - window : 0;
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::vector<v1::Series> series,
        store_->ReadSeries(run.run_id(), metrics, from, UINT32_MAX));
    metrics::RunValues rv{run.run_id(), run.sweep_value(), run.sweep_point(), {}};
    for (const v1::Series& s : series) {
      v1::MetricValue& v = rv.values.emplace_back();
      v.set_name(s.metric());
      seen.insert(s.metric());
      if (s.values_size() == 0) {
        v.set_absent(s.absent_reasons(s.absent_reasons_size() - 1));
        continue;
      }
      double sum = 0;
      for (double x : s.values()) sum += x;
      v.set_value(sum / s.values_size());
    }
    values.push_back(std::move(rv));
  }
  for (const std::string& m : metrics) {
    const bool found = std::any_of(seen.begin(), seen.end(), [&](const auto& s) {
      return metrics::MatchesFilter(s, m);
    });
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat("metrics: no series named '", m, "' in these runs"));
    }
  }
  v1::CompareRunsResponse response;
  response.set_sweep_parameter(runs.front().sweep_parameter());
  for (v1::CompareGroup& g : metrics::GroupBySweepPoint(values)) {
    *response.add_groups() = std::move(g);
  }
  return response;
}

absl::StatusOr<v1::EvaluateResponse> DiversityServiceImpl::Evaluate(
    const v1::EvaluateRequest& request) const {
  constexpr size_t kMaxRows = 100000;
  std::vector<float> rows;
  uint32_t dim = request.dim();
  std::optional<v1::RunRecord> run;
  if (!request.run_id().empty()) {
    FEEDLOOP_ASSIGN_OR_RETURN(run, store_->GetRun(request.run_id()));
  }
  if (!request.item_ids().empty()) {
    if (!run.has_value()) {
      return absl::InvalidArgumentError("run_id: item_ids need their run");
    }
    if (!request.embeddings().empty()) {
      return absl::InvalidArgumentError(
          "embeddings: give item_ids or embeddings, not both");
    }
    dim = run->config().space().dim();
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::vector<v1::Item> items,
        store_->GetItems(request.run_id(),
                         std::span<const uint64_t>(request.item_ids().data(),
                                                   request.item_ids_size())));
    for (const v1::Item& item : items) {
      rows.insert(rows.end(), item.embedding().begin(), item.embedding().end());
    }
  } else {
    if (dim == 0) {
      return absl::InvalidArgumentError("dim: the embeddings' dimension is required");
    }
    if (run.has_value() && dim != run->config().space().dim()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dim: ", dim, " is not run '", request.run_id(), "''s dimension ",
          run->config().space().dim()));
    }
    FEEDLOOP_RETURN_IF_ERROR(CheckEmbeddingRows(AsSpan(request.embeddings()), dim,
                                                "embeddings", /*require_unit=*/false));
    rows.assign(request.embeddings().begin(), request.embeddings().end());
    for (size_t r = 0; r < rows.size() / dim; ++r) {
      Normalize(std::span<float>(rows.data() + r * dim, dim));
    }
  }
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  if (n == 0) {
    return absl::InvalidArgumentError("item_ids, embeddings: nothing to evaluate");
  }
  if (n > kMaxRows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embeddings: ", n, " rows exceed the limit of ", kMaxRows));
  }
  v1::EvaluateResponse response;
  std::vector<v1::MetricValue> values;
  if (run.has_value()) {
    // The run's topics, and its tail reference from its round-0 items, as
    // the loop measured them.
    const model::TopicSpace space = model::TopicSpace::FromConfig(run->config());
    std::vector<float> round0;
    FEEDLOOP_ASSIGN_OR_RETURN(auto cursor, store_->ScanItems(request.run_id(), 0, 0));
    std::vector<v1::Item> items;
    while (true) {
      FEEDLOOP_ASSIGN_OR_RETURN(bool more, cursor->Next(4096, &items));
      if (!more) break;
    }
    for (const v1::Item& item : items) {
      round0.insert(round0.end(), item.embedding().begin(), item.embedding().end());
    }
    const metrics::TailReference tail =
        metrics::TailReference::Build(round0, metrics::TailOptionsFor(run->config()));
    metrics::ContentOptions o;
    o.space = &space;
    o.tail = &tail;
    o.pair_samples = run->config().metrics().pair_samples();
    values = metrics::ContentMetrics(rows, dim, o, request.seed());
  } else {
    values = metrics::ContentMetrics(rows, dim, {}, request.seed());
  }
  for (v1::MetricValue& v : values) *response.add_values() = std::move(v);
  response.set_items(static_cast<uint32_t>(n));
  return response;
}

grpc::ServerUnaryReactor* DiversityServiceImpl::CompareRuns(
    grpc::CallbackServerContext* ctx, const v1::CompareRunsRequest* request,
    v1::CompareRunsResponse* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, Compare(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DiversityServiceImpl::Evaluate(
    grpc::CallbackServerContext* ctx, const v1::EvaluateRequest* request,
    v1::EvaluateResponse* response) {
  return ServeUnary(ctx, pool_, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, Evaluate(*request));
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::RoundMetrics>* DiversityServiceImpl::WatchRun(
    grpc::CallbackServerContext* ctx, const v1::WatchRunRequest* request) {
  absl::StatusOr<v1::RunRecord> run = store_->GetRun(request->run_id());
  if (!run.ok()) {
    return new RefusedWriteReactor<v1::RoundMetrics>(ToGrpcStatus(run.status()));
  }
  if (watchers_.fetch_add(1) >= kMaxWatchers) {
    watchers_.fetch_sub(1);
    return new RefusedWriteReactor<v1::RoundMetrics>(OverloadedStatus());
  }
  v1::WatchRunRequest req = *request;
  ItemStore* store = store_;
  return new ThreadedWriteReactor<v1::RoundMetrics>(
      [store, req](const auto& send, const auto& cancelled) -> grpc::Status {
        std::vector<std::string> metrics(req.metrics().begin(), req.metrics().end());
        uint32_t next = req.from_round();
        uint64_t seen = store->changes();
        while (true) {
          // Status first: a run that ended before its last rounds were read
          // still sends them.
          absl::StatusOr<v1::RunRecord> run = store->GetRun(req.run_id());
          if (!run.ok()) return ToGrpcStatus(run.status());
          const bool ended = IsEnded(run->status());
          absl::StatusOr<std::vector<v1::RoundMetrics>> rounds =
              store->ReadRounds(req.run_id(), next, metrics);
          if (!rounds.ok()) return ToGrpcStatus(rounds.status());
          for (const v1::RoundMetrics& r : *rounds) {
            if (!send(r)) {
              return grpc::Status(grpc::StatusCode::CANCELLED, "watch closed");
            }
            next = r.round() + 1;
          }
          if (ended) return grpc::Status::OK;
          if (cancelled()) {
            return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
          }
          seen = store->WaitForChange(seen, absl::Milliseconds(200));
        }
      },
      &watchers_);
}

}  // namespace feedloop::store
