#include "report/outputs.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "common/table.h"
#include "google/protobuf/util/json_util.h"
#include "metrics/catalog.h"
#include "metrics/diversity.h"
#include "metrics/metric_value.h"
#include "metrics/summary.h"
#include "report/report.h"

namespace feedloop::report {
namespace {

absl::Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
    }
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp, " to ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

// Up to kMapPoints items of `run`'s `round`, every k-th in id order.
constexpr size_t kMapPoints = 400;
absl::StatusOr<std::vector<v1::Item>> MapSample(store::StoreClient* store,
                                                const std::string& run, uint32_t round) {
  std::vector<v1::Item> items;
  FEEDLOOP_RETURN_IF_ERROR(store->ScanItems(run, round, round, [&](std::vector<v1::Item> chunk) {
    for (v1::Item& item : chunk) items.push_back(std::move(item));
    return absl::OkStatus();
  }));
  if (items.size() <= kMapPoints) return items;
  std::vector<v1::Item> out;
  const double step = static_cast<double>(items.size()) / kMapPoints;
  for (size_t i = 0; i < kMapPoints; ++i) {
    out.push_back(std::move(items[static_cast<size_t>(i * step)]));
  }
  return out;
}

// New items at the first, middle and last round of each sweep point's
// first finished run, projected on the principal axes of round 0's items of
// the first one.
absl::Status BuildMap(store::StoreClient* store, const v1::ExperimentSummary& summary,
                      report::ContentMap* map) {
  const uint32_t rounds = summary.config().rounds();
  std::vector<uint32_t> at = {0};
  if (rounds > 2) at.push_back(rounds / 2);
  if (rounds > 1) at.push_back(rounds - 1);
  const uint32_t dim = summary.config().space().dim();
  metrics::Axes axes;
  for (const v1::CompareGroup& g : summary.groups()) {
    if (g.run_ids().empty()) continue;
    const std::string& run = g.run_ids(0);
    if (axes.axes.empty()) {
      FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::Item> round0, MapSample(store, run, 0));
      std::vector<float> rows;
      for (const v1::Item& item : round0) {
        rows.insert(rows.end(), item.embedding().begin(), item.embedding().end());
      }
      axes = metrics::PrincipalAxes(rows, dim, 2, &map->explained);
      if (axes.axes.empty()) return absl::OkStatus();  // too little to project
    }
    for (uint32_t round : at) {
      FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::Item> items, MapSample(store, run, round));
      report::ContentMap::Panel& panel = map->panels.emplace_back();
      panel.group = summary.sweep_parameter().empty()
                        ? run
                        : absl::StrCat(summary.sweep_parameter(), " = ", g.sweep_value());
      panel.round = round;
      for (const v1::Item& item : items) {
        for (uint32_t a = 0; a < 2; ++a) {
          double x = 0;
          for (uint32_t d = 0; d < dim; ++d) {
            x += (item.embedding(d) - axes.mean[d]) * axes.axes[a * dim + d];
          }
          panel.xy.push_back(static_cast<float>(x));
        }
        panel.creator.push_back(item.creator_id());
        panel.platform.push_back(item.platform_generated());
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExperimentResult> CollectResults(
    store::StoreClient* store, const v1::StartRunResponse& started,
    const v1::ExperimentConfig& config, double wall_seconds) {
  ExperimentResult result;
  v1::ExperimentSummary& summary = result.summary;
  summary.set_experiment_id(started.sweep_id().empty() ? started.run_ids(0)
                                                       : started.sweep_id());
  *summary.mutable_config() = config;
  summary.set_sweep_parameter(config.sweep().parameter());
  summary.set_wall_seconds(wall_seconds);
  std::vector<metrics::RunValues> finals;
  for (const std::string& run_id : started.run_ids()) {
    FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, store->GetRun(run_id));
    v1::RunSummary* rs = summary.add_runs();
    rs->set_run_id(run_id);
    rs->set_sweep_value(run.sweep_value());
    rs->set_replicate(run.replicate());
    rs->set_status(run.status());
    rs->set_error(run.error());
    rs->set_rounds_done(run.rounds_done());
    if (run.finished_unix_ms() > 0 && run.started_unix_ms() > 0) {
      rs->set_seconds((run.finished_unix_ms() - run.started_unix_ms()) / 1000.0);
    }
    v1::GetSeriesRequest req;
    req.add_run_ids(run_id);
    FEEDLOOP_ASSIGN_OR_RETURN(v1::GetSeriesResponse all, store->GetSeries(req));
    for (v1::Series& s : *all.mutable_series()) {
      // The final round's value, or its absence: never an earlier round's
      // value standing in for an undefined final one.
      const auto points = metrics::SeriesPoints(s);
      if (!points.empty() && metrics::Counts(run.status()) &&
          points.back().first + 1 == run.rounds_done()) {
        *rs->add_final_metrics() = points.back().second;
      }
      result.series.push_back(std::move(s));
    }
    finals.push_back({run_id, run.sweep_value(), run.sweep_point(), run.status(),
                      {rs->final_metrics().begin(), rs->final_metrics().end()}});
  }
  summary.set_rule(metrics::kCountedRule);
  for (v1::CompareGroup& g : metrics::GroupBySweepPoint(finals)) {
    *summary.add_groups() = std::move(g);
  }
  FEEDLOOP_RETURN_IF_ERROR(BuildMap(store, summary, &result.map));
  return result;
}

absl::Status WriteOutputs(const std::string& dir, const ExperimentResult& result) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", dir, ": ", error.message()));
  }
  std::string csv = "run,round,metric,value,absent\n";
  for (const v1::Series& s : result.series) {
    for (const auto& [round, v] : metrics::SeriesPoints(s)) {
      absl::StrAppend(&csv, s.run_id(), ",", round, ",", s.metric(), ",",
                      v.absent().empty() ? absl::StrFormat("%.17g", v.value()) : "",
                      ",", CsvField(v.absent()), "\n");
    }
  }
  FEEDLOOP_RETURN_IF_ERROR(WriteAtomically(dir + "/metrics.csv", csv));
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(result.summary, &json, options)
           .ok()) {
    return absl::InternalError("cannot render summary.json");
  }
  FEEDLOOP_RETURN_IF_ERROR(WriteAtomically(dir + "/summary.json", json));
  return WriteAtomically(dir + "/report.html",
                         report::RenderReport(result.summary, result.series, &result.map));
}

std::string FormatTable(const v1::ExperimentSummary& summary) {
  const std::vector<std::string> keys = metrics::KeyMetrics(summary.config());
  const bool sweep = !summary.sweep_parameter().empty();
  std::vector<std::string> header = {sweep ? summary.sweep_parameter() : "run",
                                     "n"};
  for (const std::string& k : keys) header.push_back(k);
  Table table(header);
  for (const v1::CompareGroup& g : summary.groups()) {
    std::vector<std::string> row = {
        sweep ? g.sweep_value() : summary.runs(0).run_id(), metrics::FormatRunsCounted(g)};
    for (const std::string& k : keys) {
      std::string cell = "-";
      for (const v1::MetricSummary& m : g.metrics()) {
        if (m.metric() != k) continue;
        cell = metrics::FormatMeanCi(m);
      }
      row.push_back(cell);
    }
    table.AddRow(std::move(row));
  }
  std::string out = table.Render();
  bool left_out = false;
  for (const v1::RunSummary& run : summary.runs()) left_out |= !metrics::Counts(run.status());
  if (left_out) absl::StrAppend(&out, "n: ", summary.rule(), "\n");
  for (const v1::RunSummary& run : summary.runs()) {
    if (!metrics::Counts(run.status())) {
      absl::StrAppend(&out, "run ", run.run_id(), ": ",
                      v1::RunStatus_Name(run.status()),
                      run.error().empty() ? "" : absl::StrCat(": ", run.error()),
                      "\n");
    }
  }
  return out;
}

}  // namespace feedloop::report
