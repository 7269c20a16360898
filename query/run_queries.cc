#include "query/run_queries.h"

#include <algorithm>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/paging.h"
#include "common/status.h"
#include "common/vectors.h"
#include "config/config.h"
#include "metrics/catalog.h"
#include "metrics/content.h"
#include "metrics/round_recorder.h"
#include "metrics/summary.h"
#include "metrics/tail.h"
#include "model/topic_space.h"
#include "store/item_store.h"
#include "store/run_status.h"

namespace feedloop::query {
namespace {

// A named metric that no series has is a mistake worth reporting.
absl::Status CheckNamed(const std::vector<std::string>& filters,
                        const std::set<std::string>& seen) {
  for (const std::string& m : filters) {
    const bool found = std::any_of(seen.begin(), seen.end(), [&](const auto& s) {
      return metrics::MatchesFilter(s, m);
    });
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat("metrics: no series named ", Quote(m), " in these runs"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ListRunsResponse> RunQueries::ListRuns(
    const v1::ListRunsRequest& request) const {
  FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::RunRecord> runs, store_->ListRuns());
  std::vector<v1::RunRecord> kept;
  for (v1::RunRecord& run : runs) {
    if (!request.sweep_id().empty() && run.sweep_id() != request.sweep_id())
      continue;
    if (request.statuses_size() > 0 &&
        std::find(request.statuses().begin(), request.statuses().end(),
                  run.status()) == request.statuses().end())
      continue;
    if (run.created_unix_ms() < request.created_after_unix_ms()) continue;
    kept.push_back(std::move(run));
  }
  FEEDLOOP_ASSIGN_OR_RETURN(Page page, PageOf(kept.size(), request.page_token(),
                                              request.page_size(), 100, 1000));
  v1::ListRunsResponse response;
  for (size_t i = page.begin; i < page.end; ++i) {
    *response.add_runs() = std::move(kept[i]);
  }
  response.set_next_page_token(page.next_token);
  return response;
}

absl::StatusOr<v1::RunRecord> RunQueries::GetRun(
    const v1::GetRunRequest& request) const {
  return store_->GetRun(request.run_id());
}

absl::StatusOr<v1::GetSeriesResponse> RunQueries::GetSeries(
    const v1::GetSeriesRequest& request) const {
  if (request.run_ids().empty()) {
    return absl::InvalidArgumentError("run_ids: name at least one run");
  }
  if (static_cast<size_t>(request.run_ids_size()) > kMaxRunIdsPerCall) {
    return absl::InvalidArgumentError(
        absl::StrCat("run_ids: ", request.run_ids_size(),
                     " runs exceed the limit of ", kMaxRunIdsPerCall));
  }
  const uint32_t round_to =
      request.has_round_to() ? request.round_to() : UINT32_MAX;
  if (request.round_from() > round_to) {
    return absl::InvalidArgumentError(
        absl::StrCat("round_from: ", request.round_from(),
                     " is after round_to ", round_to));
  }
  std::vector<std::string> metrics(request.metrics().begin(),
                                   request.metrics().end());
  std::vector<v1::Series> all;
  std::set<std::string> seen;
  for (const std::string& run_id : request.run_ids()) {
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::vector<v1::Series> series,
        store_->ReadSeries(run_id, metrics, request.round_from(), round_to));
    for (v1::Series& s : series) {
      seen.insert(s.metric());
      all.push_back(std::move(s));
    }
  }
  FEEDLOOP_RETURN_IF_ERROR(CheckNamed(metrics, seen));
  FEEDLOOP_ASSIGN_OR_RETURN(Page page, PageOf(all.size(), request.page_token(),
                                              request.page_size(), 1000, 10000));
  v1::GetSeriesResponse response;
  for (size_t i = page.begin; i < page.end; ++i) {
    *response.add_series() = std::move(all[i]);
  }
  response.set_next_page_token(page.next_token);
  return response;
}

absl::StatusOr<v1::CompareRunsResponse> RunQueries::Compare(
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
  bool any_counted = false;
  for (const v1::RunRecord& run : runs) {
    // Every run is in its group's runs_by_status; only those that count
    // are read (metrics/summary.h: the one definition).
    if (!metrics::Counts(run.status())) {
      values.push_back({run.run_id(), run.sweep_value(), run.sweep_point(), run.status(), {}});
      continue;
    }
    any_counted = true;
    const uint32_t from = run.rounds_done() > window ? run.rounds_done() - window : 0;
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::vector<v1::Series> series,
        store_->ReadSeries(run.run_id(), metrics, from, UINT32_MAX));
    metrics::RunValues rv{run.run_id(), run.sweep_value(), run.sweep_point(), run.status(), {}};
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
  // With no run counted yet there is nothing to check the names against.
  if (any_counted) FEEDLOOP_RETURN_IF_ERROR(CheckNamed(metrics, seen));
  v1::CompareRunsResponse response;
  response.set_sweep_parameter(runs.front().sweep_parameter());
  response.set_rule(metrics::kCountedRule);
  for (v1::CompareGroup& g : metrics::GroupBySweepPoint(values)) {
    *response.add_groups() = std::move(g);
  }
  return response;
}

absl::StatusOr<v1::EvaluateResponse> RunQueries::Evaluate(
    const v1::EvaluateRequest& request, const Cancellation& cancel) const {
  std::vector<float> rows;
  std::vector<int64_t> creators;  // per row, when the rows are a run's items
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
    // Before any item is read: the rows they make are bounded like
    // embeddings sent in the request.
    if (size_t(request.item_ids_size()) > config::kMaxEvaluateRows ||
        uint64_t(request.item_ids_size()) * dim > config::kMaxEvaluateFloats) {
      return absl::InvalidArgumentError(absl::StrCat(
          "item_ids: ", request.item_ids_size(), " items of dim ", dim,
          " exceed the limit of ", config::kMaxEvaluateRows, " rows and ",
          config::kMaxEvaluateFloats, " floats per request"));
    }
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::vector<v1::Item> items,
        store_->GetItems(request.run_id(),
                         std::span<const uint64_t>(request.item_ids().data(),
                                                   request.item_ids_size())));
    for (const v1::Item& item : items) {
      rows.insert(rows.end(), item.embedding().begin(), item.embedding().end());
      creators.push_back(item.platform_generated() ? -1 : int64_t{item.creator_id()});
    }
  } else {
    if (dim == 0) {
      return absl::InvalidArgumentError("dim: the embeddings' dimension is required");
    }
    // Before anything is sized by it: the metrics' work grows as dim^2.
    if (dim > config::kMaxDim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dim: ", dim, " exceeds the limit of ", config::kMaxDim, " (space.dim's)"));
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
  if (n > config::kMaxEvaluateRows || rows.size() > config::kMaxEvaluateFloats) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embeddings: ", n, " rows of dim ", dim, " exceed the limit of ",
        config::kMaxEvaluateRows, " rows and ", config::kMaxEvaluateFloats,
        " floats per request"));
  }
  FEEDLOOP_RETURN_IF_ERROR(cancel.Check());
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
    FEEDLOOP_RETURN_IF_ERROR(cancel.Check());
    const metrics::TailReference tail =
        metrics::TailReference::Build(round0, metrics::TailOptionsFor(run->config()));
    FEEDLOOP_RETURN_IF_ERROR(cancel.Check());
    metrics::ContentOptions o;
    o.space = &space;
    o.tail = &tail;
    o.pair_samples = run->config().metrics().pair_samples();
    o.creators = creators;  // items of the run carry their creators
    values = metrics::ContentMetrics(rows, dim, o, request.seed());
  } else {
    values = metrics::ContentMetrics(rows, dim, {}, request.seed());
  }
  for (v1::MetricValue& v : values) *response.add_values() = std::move(v);
  response.set_items(static_cast<uint32_t>(n));
  return response;
}

absl::Status RunQueries::Watch(const v1::WatchRunRequest& request,
                               const Send& send,
                               const std::function<bool()>& cancelled) const {
  std::vector<std::string> metrics(request.metrics().begin(),
                                   request.metrics().end());
  uint32_t next = request.from_round();
  uint64_t seen = store_->changes();
  while (true) {
    // Status first: a run that ended before its last rounds were read still
    // sends them.
    FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, store_->GetRun(request.run_id()));
    const bool ended = store::IsEnded(run.status());
    FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::RoundMetrics> rounds,
                              store_->ReadRounds(request.run_id(), next, metrics));
    for (const v1::RoundMetrics& r : rounds) {
      if (!send(r)) return absl::CancelledError("watch closed");
      next = r.round() + 1;
    }
    if (ended) return absl::OkStatus();
    if (cancelled()) return absl::CancelledError("watch cancelled");
    // Wakes at least every 200 ms to notice a departed client.
    seen = store_->WaitForChange(seen, absl::Milliseconds(200));
  }
}

}  // namespace feedloop::query
