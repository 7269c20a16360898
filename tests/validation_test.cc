// The validation experiments of configs/validation/, run as written (they
// are small). Each asserts a direction of the model with a margin over
// replicate noise. Replicate r runs with the same seed at every sweep point,
// so the comparison is paired: the 95% interval (Student t) of the
// per-replicate differences must exclude zero. Values are each run's mean
// over its last 4 rounds.

#include <filesystem>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "gtest/gtest.h"
#include "loop/loop_server.h"
#include "metrics/summary.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

// sweep value -> metric -> value per replicate (in replicate order).
using Table = std::map<std::string, std::map<std::string, std::vector<double>>>;

Table RunValidation(const std::string& name) {
  const std::string path =
      absl::StrCat(FEEDLOOP_SOURCE_DIR, "/configs/validation/", name, ".pbtxt");
  auto config = config::LoadConfigFile(path);
  EXPECT_OK(config.status());
  const std::string dir = absl::StrCat(::testing::TempDir(), "/validation_", name);
  std::filesystem::remove_all(dir);
  loop::EmbeddedStack::Options options;
  options.data_dir = dir;
  auto stack = loop::EmbeddedStack::Start(options);
  EXPECT_OK(stack.status());
  auto started = (*stack)->experiments()->Start(*config);
  EXPECT_OK(started.status());
  (*stack)->experiments()->WaitUntilIdle();

  Table table;
  for (const std::string& run_id : started->run_ids()) {
    auto run = (*stack)->store()->GetRun(run_id);
    EXPECT_OK(run.status());
    EXPECT_EQ(run->status(), v1::DONE) << run->error();
    v1::GetSeriesRequest req;
    req.add_run_ids(run_id);
    req.set_round_from(config->rounds() - 4);
    auto series = (*stack)->store()->GetSeries(req);
    EXPECT_OK(series.status());
    for (const auto& s : series->series()) {
      double sum = 0;
      for (double v : s.values()) sum += v;
      auto& slot = table[run->sweep_value()][s.metric()];
      slot.resize(std::max<size_t>(slot.size(), run->replicate() + 1));
      slot[run->replicate()] = sum / s.values_size();
    }
  }
  stack->reset();
  std::filesystem::remove_all(dir);
  return table;
}

double Mean(const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  return sum / xs.size();
}

// `high` is above `low`: the paired differences' 95% interval lies above 0.
void ExpectAbove(const Table& t, const std::string& metric,
                 const std::string& high, const std::string& low) {
  const std::vector<double>& h = t.at(high).at(metric);
  const std::vector<double>& l = t.at(low).at(metric);
  ASSERT_EQ(h.size(), l.size());
  std::vector<double> diff;
  for (size_t r = 0; r < h.size(); ++r) diff.push_back(h[r] - l[r]);
  const double mean = Mean(diff);
  double ss = 0;
  for (double d : diff) ss += (d - mean) * (d - mean);
  const double half = metrics::StudentT95(static_cast<int>(diff.size()) - 1) *
                      std::sqrt(ss / (diff.size() - 1)) / std::sqrt(diff.size());
  std::cout << "  " << metric << ": [" << high << "] " << Mean(h) << " vs ["
            << low << "] " << Mean(l) << "; paired difference " << mean
            << " +- " << half << "\n";
  EXPECT_GT(mean - half, 0) << metric << ": " << high << " is not above " << low
                            << " beyond replicate noise";
}

void Report(const Table& t, const std::string& metric) {
  std::cout << "  " << metric << ":";
  for (const auto& [value, metrics] : t) {
    std::cout << "  [" << value << "] " << Mean(metrics.at(metric));
  }
  std::cout << "\n";
}

TEST(Validation, CouplingLowersDispersionAndVendi) {
  const Table t = RunValidation("coupling");
  ExpectAbove(t, "content.dispersion", "0", "0.5");
  ExpectAbove(t, "content.dispersion", "0.5", "1");
  ExpectAbove(t, "content.vendi", "0", "0.5");
  ExpectAbove(t, "content.vendi", "0.5", "1");
}

TEST(Validation, MmrRaisesSlateDiversityAndCreatorEntropyAtAnEngagementCost) {
  const Table t = RunValidation("mmr");
  ExpectAbove(t, "slate.ild", "0.5", "0");
  ExpectAbove(t, "exposure.entropy_creators", "0.5", "0");
  ExpectAbove(t, "consumption.engagement_rate", "0", "0.5");
}

TEST(Validation, LearnedRankerHomogenizesConsumptionMoreThanOracle) {
  const Table t = RunValidation("confounding");
  ExpectAbove(t, "consumption.jaccard", "LEARNED", "ORACLE");
  Report(t, "consumption.utility");
}

TEST(Validation, VolumeGrowthShortensLifetimesAndLeavesMoreUnseen) {
  const Table t = RunValidation("attention");
  ExpectAbove(t, "lifecycle.median_lifetime", "1", "1.2");
  ExpectAbove(t, "lifecycle.never_seen", "1.2", "1");
}

}  // namespace
}  // namespace feedloop
