#include "metrics/summary.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace feedloop::metrics {

double StudentT95(int dof) {
  static constexpr double kTable[] = {
      0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
      2.228,  2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
      2.086,  2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
      2.042};
  if (dof <= 0) return 0;
  if (dof <= 30) return kTable[dof];
  return 1.96 + 2.4 / dof;  // approaches the normal quantile
}

v1::MetricSummary Summarize(const std::string& metric, const std::vector<double>& xs) {
  if (xs.empty()) {
    v1::MetricSummary m;
    m.set_metric(metric);
    return m;
  }
  const double n = static_cast<double>(xs.size());
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= n;
  double half = 0;
  if (xs.size() > 1) {
    double ss = 0;
    for (double x : xs) ss += (x - mean) * (x - mean);
    const double sd = std::sqrt(ss / (n - 1));
    half = StudentT95(static_cast<int>(xs.size()) - 1) * sd / std::sqrt(n);
  }
  v1::MetricSummary m;
  m.set_metric(metric);
  m.set_mean(mean);
  m.set_ci_low(mean - half);
  m.set_ci_high(mean + half);
  m.set_n(static_cast<uint32_t>(xs.size()));
  return m;
}

std::string FormatMeanCi(const v1::MetricSummary& m) {
  if (m.n() == 0) return m.absent() > 0 ? "absent" : "-";
  std::string out =
      m.n() > 1 ? absl::StrFormat("%.3f ± %.3f", m.mean(), (m.ci_high() - m.ci_low()) / 2)
                : absl::StrFormat("%.3f", m.mean());
  if (m.absent() > 0) absl::StrAppendFormat(&out, " (%d absent)", m.absent());
  return out;
}

bool Counts(v1::RunStatus status) { return status == v1::DONE; }

std::string FormatRunsCounted(const v1::CompareGroup& g) {
  uint32_t all = 0;
  std::vector<std::string> left_out;
  for (const auto& [status, n] : std::map<std::string, uint32_t>(g.runs_by_status().begin(),
                                                                 g.runs_by_status().end())) {
    all += n;
    v1::RunStatus s = v1::RUN_STATUS_UNSPECIFIED;
    if (n > 0 && v1::RunStatus_Parse(status, &s) && !Counts(s)) {
      left_out.push_back(absl::StrCat(n, " ", status));
    }
  }
  const uint32_t counted = static_cast<uint32_t>(g.run_ids_size());
  if (counted == all || all == 0) return absl::StrCat(counted);  // 0: an older server
  return absl::StrCat(counted, " of ", all, " (", absl::StrJoin(left_out, ", "), ")");
}

std::vector<v1::CompareGroup> GroupBySweepPoint(const std::vector<RunValues>& runs) {
  struct Group {
    std::string value;
    std::vector<std::string> run_ids;
    std::map<std::string, std::vector<double>> metrics;
    std::map<std::string, uint32_t> absent;
    std::map<std::string, uint32_t> by_status;
  };
  std::map<uint32_t, Group> groups;
  for (const RunValues& r : runs) {
    Group& g = groups[r.sweep_point];
    g.value = r.sweep_value;
    ++g.by_status[v1::RunStatus_Name(r.status)];
    if (!Counts(r.status)) continue;
    g.run_ids.push_back(r.run_id);
    for (const v1::MetricValue& v : r.values) {
      if (v.absent().empty()) {
        g.metrics[v.name()].push_back(v.value());
      } else {
        g.metrics[v.name()];  // listed even when no run defines it
        ++g.absent[v.name()];
      }
    }
  }
  std::vector<v1::CompareGroup> out;
  for (auto& [point, g] : groups) {
    v1::CompareGroup& cg = out.emplace_back();
    cg.set_sweep_value(g.value);
    for (const auto& id : g.run_ids) cg.add_run_ids(id);
    for (const auto& [status, n] : g.by_status) (*cg.mutable_runs_by_status())[status] = n;
    cg.set_runs_counted(FormatRunsCounted(cg));
    for (const auto& [name, xs] : g.metrics) {
      v1::MetricSummary& m = *cg.add_metrics();
      m = Summarize(name, xs);
      auto a = g.absent.find(name);
      if (a != g.absent.end()) m.set_absent(a->second);
    }
  }
  return out;
}

}  // namespace feedloop::metrics
