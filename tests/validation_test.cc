// The validation experiments of configs/validation/, run as written (they
// are small), under the default LEARNED ranker unless the phenomenon is
// about another. Each asserts a direction of the model with a margin over
// replicate noise: replicate r runs with the same seed at every sweep
// point, so the comparison is paired, and the 95% interval (Student t) of
// the per-replicate differences must exclude zero. Where switching the
// mechanism off is cheap, the test also runs that ablation and asserts the
// effect is gone, so that each test can be seen to fail for the right
// reason.

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "feedloop/v1/diversity.pb.h"
#include "gtest/gtest.h"
#include "loop/experiment_service.h"
#include "metrics/summary.h"
#include "stack/embedded_stack.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

// sweep value -> metric -> value per replicate (in replicate order).
using Table = std::map<std::string, std::map<std::string, std::vector<double>>>;

// Which rounds a run's value is the mean of: [from, to] counted from the
// end when negative ("the last 4 rounds" is {-4, -1}).
struct Window {
  int from = -4;
  int to = -1;
};

// Runs configs/validation/<name>.pbtxt, changed by `edit`, and fills
// tables[i] with each run's mean over windows[i].
void RunValidationWindows(
    const std::string& name, const std::vector<Window>& windows,
    std::vector<Table>* tables,
    const std::function<void(v1::ExperimentConfig*)>& edit = {}) {
  const std::string path =
      absl::StrCat(FEEDLOOP_SOURCE_DIR, "/configs/validation/", name, ".pbtxt");
  ASSERT_OK_AND_ASSIGN(v1::ExperimentConfig config,
                       config::LoadConfigFile(path));
  if (edit) edit(&config);
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/validation_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  stack::EmbeddedStack::Options options;
  options.data_dir = dir;
  ASSERT_OK_AND_ASSIGN(auto stack, stack::EmbeddedStack::Start(options));
  ASSERT_OK_AND_ASSIGN(auto started, stack->experiments()->Start(config));
  stack->experiments()->WaitUntilIdle();
  const int rounds = static_cast<int>(config.rounds());
  auto at = [&](int r) {
    return static_cast<uint32_t>(r < 0 ? rounds + r : r);
  };
  tables->assign(windows.size(), Table());
  for (const std::string& run_id : started.run_ids()) {
    ASSERT_OK_AND_ASSIGN(v1::RunRecord run, stack->store()->GetRun(run_id));
    ASSERT_EQ(run.status(), v1::DONE) << run.error();
    for (size_t w = 0; w < windows.size(); ++w) {
      const Window& window = windows[w];
      Table* table = &(*tables)[w];
      v1::GetSeriesRequest req;
      req.add_run_ids(run_id);
      req.set_round_from(at(window.from));
      req.set_round_to(at(window.to));
      ASSERT_OK_AND_ASSIGN(v1::GetSeriesResponse series,
                           stack->store()->GetSeries(req));
      for (const auto& s : series.series()) {
        if (s.values_size() == 0) continue;  // undefined in the window
        double sum = 0;
        for (double v : s.values()) sum += v;
        auto& slot = (*table)[run.sweep_value()][s.metric()];
        slot.resize(std::max<size_t>(slot.size(), run.replicate() + 1), NAN);
        slot[run.replicate()] = sum / s.values_size();
      }
    }
  }
  stack.reset();
  std::filesystem::remove_all(dir);
}

// The same for one window.
void RunValidation(
    const std::string& name, Window window, Table* table,
    const std::function<void(v1::ExperimentConfig*)>& edit = {}) {
  std::vector<Table> tables;
  RunValidationWindows(name, {window}, &tables, edit);
  if (!tables.empty()) *table = std::move(tables[0]);
}

double Mean(const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  return sum / xs.size();
}

// The paired differences high - low of `metric`: mean and 95% half-width.
struct Paired {
  double mean = 0;
  double half = 0;
};
Paired Difference(const Table& t, const std::string& metric,
                  const std::string& high, const std::string& low) {
  const std::vector<double>& h = t.at(high).at(metric);
  const std::vector<double>& l = t.at(low).at(metric);
  EXPECT_EQ(h.size(), l.size()) << metric;
  std::vector<double> diff;
  for (size_t r = 0; r < h.size() && r < l.size(); ++r)
    diff.push_back(h[r] - l[r]);
  Paired p;
  p.mean = Mean(diff);
  double ss = 0;
  for (double d : diff) ss += (d - p.mean) * (d - p.mean);
  p.half = metrics::StudentT95(static_cast<int>(diff.size()) - 1) *
           std::sqrt(ss / (diff.size() - 1)) / std::sqrt(diff.size());
  std::cout << "  " << metric << ": [" << high << "] " << Mean(h) << " vs ["
            << low << "] " << Mean(l) << "; paired difference " << p.mean
            << " +- " << p.half << "\n";
  return p;
}

// `high` is above `low`: the paired differences' 95% interval lies above 0.
void ExpectAbove(const Table& t, const std::string& metric,
                 const std::string& high, const std::string& low) {
  const Paired p = Difference(t, metric, high, low);
  EXPECT_GT(p.mean - p.half, 0) << metric << ": " << high << " is not above "
                                << low << " beyond replicate noise";
}

// With the mechanism off, `high` is no longer above `low` beyond noise.
void ExpectNotAbove(const Table& t, const std::string& metric,
                    const std::string& high, const std::string& low) {
  const Paired p = Difference(t, metric, high, low);
  EXPECT_LE(p.mean - p.half, 0) << metric << ": " << high << " is still above "
                                << low << " with the mechanism switched off";
}

TEST(Validation, CouplingHomogenizesContentAndConsumption) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("coupling", {}, &t));
  ExpectAbove(t, "content.vendi", "0", "0.5");
  ExpectAbove(t, "content.vendi", "0", "1");
  ExpectAbove(t, "content.dispersion", "0", "1");
  ExpectAbove(t, "consumption.similarity", "1", "0");
  // Coupling does not buy welfare.
  const Paired welfare = Difference(t, "consumption.welfare", "1", "0");
  EXPECT_LE(welfare.mean - welfare.half, 0);
}

TEST(Validation, LearnedRankerHomogenizesConsumptionMoreThanOracle) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("confounding", {}, &t));
  ExpectAbove(t, "consumption.similarity", "LEARNED", "ORACLE");
  ExpectAbove(t, "consumption.jaccard", "LEARNED", "ORACLE");
  ExpectAbove(t, "consumption.welfare", "ORACLE", "LEARNED");
}

TEST(Validation, VolumeGrowthCompressesAttention) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("attention", {}, &t));
  ExpectAbove(t, "lifecycle.attention_halflife", "1", "1.3");
  ExpectAbove(t, "lifecycle.impressions_per_item", "1", "1.3");
  ExpectAbove(t, "lifecycle.never_seen", "1.3", "1");
}

TEST(Validation, PlatformRefitCollapsesTheTails) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("tails", {}, &t));
  ExpectAbove(t, "content.tail_share", "0", "0.8");
  ExpectAbove(t, "content.vendi", "0", "0.8");
  // Without refit (alpha 0) the platform samples like the creators: no
  // collapse.
  Table off;
  ASSERT_NO_FATAL_FAILURE(RunValidation(
      "tails", {}, &off,
      [](v1::ExperimentConfig* c) { c->mutable_generator()->set_alpha(0); }));
  ExpectNotAbove(off, "content.tail_share", "0", "0.8");
}

// The paired differences of `metric` between `a` and `b` are exactly 0 in
// every replicate: the mechanism cannot reach it.
void ExpectIdentical(const Table& t, const std::string& metric,
                     const std::string& a, const std::string& b) {
  EXPECT_EQ(t.at(a).at(metric), t.at(b).at(metric)) << metric;
}

TEST(Validation, CouplingSpecializesWhenTheRankerPaysForDistinctAudiences) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("specialization", {}, &t));
  ExpectAbove(t, "content.dispersion", "1", "0");
  // Consumption also grows less alike at the repository's seed, but by
  // less than replicate noise at others (seed 4242: -0.009 +- 0.020), so it
  // is not asserted: the claim is the content's.
}

TEST(Validation, ExposureGameLowTemperatureSpecializesHighTemperatureClusters) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("exposure_game", {}, &t));
  ExpectAbove(t, "content.dispersion", "0.02", "1");
  // Vendi moves the same way but within replicate noise at some seeds
  // (seed 4242: -0.42 +- 0.43), so only dispersion is asserted.
  // Uncoupled creators never ask the ranker: its temperature cannot reach
  // the content.
  Table off;
  ASSERT_NO_FATAL_FAILURE(RunValidation(
      "exposure_game", {}, &off,
      [](v1::ExperimentConfig* c) { c->mutable_generator()->set_alpha(0); }));
  ExpectIdentical(off, "content.dispersion", "0.02", "1");
}

TEST(Validation, ProductionCostUnderALowNormSpecializes) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("production_cost", {}, &t));
  ExpectAbove(t, "content.vendi", "1", "8");
  ExpectAbove(t, "content.dispersion", "1", "8");
}

TEST(Validation,
     LearnedRankerAmplifiesConcentrationOverRoundsAndOracleDoesNot) {
  // The rise of concentration among shown items: the last 4 rounds' mean
  // less the first 2 rounds'.
  std::vector<Table> tables;
  ASSERT_NO_FATAL_FAILURE(
      RunValidationWindows("popularity_bias", {{0, 1}, {-4, -1}}, &tables));
  const Table& early = tables[0];
  const Table& late = tables[1];
  Table rise;
  for (const auto& [variant, metrics] : late) {
    const auto& l = metrics.at("exposure.gini_shown");
    const auto& e = early.at(variant).at("exposure.gini_shown");
    auto& r = rise[variant]["rise"];
    for (size_t i = 0; i < l.size(); ++i) r.push_back(l[i] - e[i]);
  }
  rise["zero"]["rise"].assign(rise.at("LEARNED").at("rise").size(), 0.0);
  ExpectAbove(rise, "rise", "LEARNED", "ORACLE");
  ExpectAbove(rise, "rise", "LEARNED", "zero");
}

TEST(Validation, MmrReachesTheContentThroughTheSlateAwareReward) {
  Table t;
  ASSERT_NO_FATAL_FAILURE(RunValidation("mmr", {}, &t));
  ExpectAbove(t, "slate.ild", "0.5", "0");
  // MMR changes what creators are paid for: under MMR an item that
  // repeats its creator's others (live, or chosen earlier in the round)
  // earns less, so each creator's output grows more varied. (Pricing
  // each item against live items only, without the round's, gives about
  // half of this rise: +0.0023 +- 0.0020.)
  ExpectAbove(t, "content.creator_dispersion", "0.5", "0");
  // With each item priced alone (the first slate-aware reward; the
  // generator's max_scoring_waves = 1) MMR makes the pooled content less
  // dispersed (-0.015 +- 0.004) and this fails: an artefact of ignoring
  // the round's competition. Pooled dispersion and
  // Vendi do not rise beyond noise either (docs/model.md).
  ExpectNotAbove(t, "content.dispersion", "0", "0.5");
  // Uncoupled, the slates change and the content cannot.
  Table off;
  ASSERT_NO_FATAL_FAILURE(RunValidation(
      "mmr", {}, &off,
      [](v1::ExperimentConfig* c) { c->mutable_generator()->set_alpha(0); }));
  ExpectAbove(off, "slate.ild", "0.5", "0");
  ExpectIdentical(off, "content.dispersion", "0", "0.5");
  ExpectIdentical(off, "content.creator_dispersion", "0", "0.5");
}

}  // namespace
}  // namespace feedloop
