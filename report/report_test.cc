#include "report/report.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "metrics/summary.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace feedloop::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Two sweep points of two replicates, three metrics over five rounds. The
// points' values sit far apart (around 1 and around 5) so that their lines
// and bands cannot hide each other. Run a-1 also has a NaN at round 4.
struct Fixture {
  v1::ExperimentSummary summary;
  std::vector<v1::Series> series;
};

Fixture MakeFixture() {
  Fixture f;
  v1::ExperimentSummary& s = f.summary;
  s.set_experiment_id("sweep-<7>");
  s.set_sweep_parameter("generator.alpha");
  s.mutable_config()->set_rounds(5);
  s.mutable_config()->set_name("fixture</pre><b>");
  s.mutable_config()->mutable_sweep()->set_replicates(2);
  const std::vector<std::string> metrics = {"consumption.welfare", "content.vendi",
                                            "zeta.custom"};
  const std::map<std::string, std::vector<std::string>> points = {
      {"0", {"a-0", "a-1"}}, {"1", {"b-0", "b-1"}}};
  for (const auto& [value, runs] : points) {
    std::vector<metrics::RunValues> finals;
    for (size_t r = 0; r < runs.size(); ++r) {
      v1::RunSummary* run = s.add_runs();
      run->set_run_id(runs[r]);
      run->set_sweep_value(value);
      run->set_replicate(static_cast<uint32_t>(r));
      run->set_status(v1::DONE);
      run->set_rounds_done(5);
      const double base = value == "0" ? 1.0 : 5.0;
      for (size_t m = 0; m < metrics.size(); ++m) {
        v1::Series& series = f.series.emplace_back();
        series.set_run_id(runs[r]);
        series.set_metric(metrics[m]);
        for (uint32_t round = 0; round < 5; ++round) {
          series.add_rounds(round);
          // Replicate r is 0.2 * r above the base; rounds add 0.1 each.
          double x = base + 0.2 * static_cast<double>(r) + 0.1 * round + 0.01 * m;
          if (runs[r] == "a-1" && round == 4) x = std::nan("");
          series.add_values(x);
        }
        v1::MetricValue last;
        last.set_name(metrics[m]);
        last.set_value(series.values(4));
        *run->add_final_metrics() = last;
      }
      finals.push_back({runs[r], value, value == "0" ? 0u : 1u, v1::DONE,
                        {run->final_metrics().begin(), run->final_metrics().end()}});
    }
    for (v1::CompareGroup& g : metrics::GroupBySweepPoint(finals)) {
      *s.add_groups() = std::move(g);
    }
  }
  v1::RunSummary* failed = s.add_runs();
  failed->set_run_id("c-0");
  failed->set_status(v1::FAILED);
  failed->set_error("ranker said </script><script>alert(1)</script>");
  return f;
}

TEST(Report, SelfContainedAndEscaped) {
  const Fixture f = MakeFixture();
  const std::string html = RenderReport(f.summary, f.series);
  EXPECT_THAT(html, HasSubstr("Chart.js v3.9.1"));  // inlined, not linked
  EXPECT_THAT(html, Not(HasSubstr(" src=")));
  EXPECT_THAT(html, Not(HasSubstr(" href=")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  // Text from runs and configs cannot open or close elements.
  EXPECT_THAT(html, HasSubstr("<title>feedloop report: sweep-&lt;7&gt;</title>"));
  EXPECT_THAT(html, HasSubstr("ranker said &lt;/script&gt;&lt;script&gt;alert(1)"));
  EXPECT_THAT(html, HasSubstr("name: &quot;fixture&lt;/pre&gt;&lt;b&gt;&quot;"));
  EXPECT_THAT(html, Not(HasSubstr("alert(1)</script>")));
  EXPECT_THAT(html, HasSubstr("class=\"status-FAILED\""));
}

TEST(Report, FinalTableAndSeriesCarryMeansAndIntervals) {
  const Fixture f = MakeFixture();
  const std::string html = RenderReport(f.summary, f.series);
  // Final table: point "1", content.vendi: runs b-0, b-1 end at 5.41 and
  // 5.61: mean 5.51, sd 0.1414, half = 12.706 * 0.1414 / sqrt(2) = 1.2706.
  EXPECT_THAT(html, HasSubstr("<td>5.510 ± 1.271</td>"));
  EXPECT_THAT(html, HasSubstr("generator.alpha = 1 <small>(n = 2)</small>"));
  // Series: point "0", consumption.welfare, round 2: 1.2 and 1.4.
  EXPECT_THAT(html, HasSubstr("[2,1.3,0.0294"));
  // a-1's NaN at round 4 leaves a-0's value alone for point "0": n = 1,
  // so the interval is the value itself. NaN never reaches the JSON.
  EXPECT_THAT(html, HasSubstr("[4,1.4,1.4,1.4]"));
  const size_t data = html.find("id=\"feedloop-data\">");
  ASSERT_NE(data, std::string::npos);
  const std::string json = html.substr(data, html.find("</script>", data) - data);
  EXPECT_THAT(json, Not(HasSubstr("nan")));
  EXPECT_THAT(json, Not(HasSubstr("NaN")));
  // Known metrics first, in catalog order, with their definitions; unknown
  // ones after, without.
  const size_t vendi = html.find("{\"name\":\"content.vendi\"");
  const size_t welfare = html.find("{\"name\":\"consumption.welfare\"");
  const size_t custom = html.find("{\"name\":\"zeta.custom\",\"description\":\"\"}");
  ASSERT_NE(vendi, std::string::npos);
  ASSERT_NE(welfare, std::string::npos);
  ASSERT_NE(custom, std::string::npos);
  EXPECT_LT(vendi, welfare);
  EXPECT_LT(welfare, custom);
}

TEST(Report, TheExperimentsKeyMetricsLeadAndUndefinedValuesSayAbsent) {
  Fixture f = MakeFixture();
  f.summary.mutable_config()->mutable_metrics()->add_key_metrics("consumption.welfare");
  // Point "1" has lifecycle.never_seen undefined in both runs.
  for (v1::CompareGroup& g : *f.summary.mutable_groups()) {
    v1::MetricSummary* m = g.add_metrics();
    m->set_metric("lifecycle.never_seen");
    if (g.sweep_value() == "1") {
      m->set_absent(2);
    } else {
      m->set_mean(0.25);
      m->set_ci_low(0.25);
      m->set_ci_high(0.25);
      m->set_n(1);
      m->set_absent(1);
    }
  }
  const std::string html = RenderReport(f.summary, f.series);
  const size_t table = html.find("<table id=\"final\">");
  const size_t key = html.find("Key metrics", table);
  const size_t welfare = html.find(">consumption.welfare<", table);
  const size_t other = html.find("Other metrics", table);
  const size_t vendi = html.find(">content.vendi<", table);
  ASSERT_NE(key, std::string::npos);
  ASSERT_NE(other, std::string::npos);
  EXPECT_LT(key, welfare);
  EXPECT_LT(welfare, other);
  EXPECT_LT(other, vendi);
  EXPECT_THAT(html, HasSubstr("<td>absent</td>"));
  EXPECT_THAT(html, HasSubstr("<td>0.250 (1 absent)</td>"));
}

// The value of `attribute="..."` in `tag`, or "" when absent.
std::string Attribute(const std::string& tag, const std::string& attribute) {
  const std::string key = attribute + "=\"";
  const size_t at = tag.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  return tag.substr(start, tag.find('"', start) - start);
}

// Opens the report in Debian's headless Chromium and reads back, from the
// DOM after the scripts ran, what every chart painted.
TEST(Report, EveryChartRendersInHeadlessChromium) {
  const char* chromium = "/usr/bin/chromium";
  ASSERT_EQ(access(chromium, X_OK), 0)
      << "headless Chromium is needed: scripts/bootstrap installs 'chromium'";
  const std::string dir = absl::StrCat(::testing::TempDir(), "/report_test_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string page = dir + "/report.html";
  const Fixture f = MakeFixture();
  // Two map panels: a spread cloud and a collapsed one, a platform point.
  ContentMap map;
  map.explained = 0.42;
  for (int p = 0; p < 2; ++p) {
    ContentMap::Panel& panel = map.panels.emplace_back();
    panel.group = "generator.alpha = " + std::to_string(p);
    panel.round = 4;
    for (int i = 0; i < 50; ++i) {
      const float spread = p == 0 ? 1.0f : 0.05f;
      panel.xy.push_back(spread * std::cos(i * 0.7f));
      panel.xy.push_back(spread * std::sin(i * 1.3f));
      panel.creator.push_back(i % 7);
      panel.platform.push_back(i == 0);
    }
  }
  {
    std::ofstream out(page);
    out << RenderReport(f.summary, f.series, &map);
  }
  ASSERT_OK_AND_ASSIGN(
      auto browser,
      testing::Subprocess::Start(
          {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--log-level=3", "--user-data-dir=" + dir + "/profile",
           "--window-size=1400,1000", "--dump-dom", "file://" + page}));
  ASSERT_OK_AND_ASSIGN(const std::string dom, browser->ReadAll(absl::Seconds(60)));
  EXPECT_EQ(browser->Wait(), 0);

  EXPECT_THAT(dom, HasSubstr("data-charts-rendered=\"3\""));
  EXPECT_THAT(dom, HasSubstr("data-maps-rendered=\"2\""));
  EXPECT_THAT(dom, HasSubstr("42% of its variance"));
  size_t maps = 0;
  for (size_t at = dom.find("<canvas class=\"map\""); at != std::string::npos;
       at = dom.find("<canvas class=\"map\"", at + 1)) {
    const std::string tag = dom.substr(at, dom.find('>', at) - at);
    EXPECT_EQ(Attribute(tag, "data-points-expected"), "50");
    EXPECT_GT(std::stoi("0" + Attribute(tag, "data-painted-pixels")), 100);
    ++maps;
  }
  EXPECT_EQ(maps, 2u);
  std::vector<std::string> charted;
  for (size_t at = dom.find("<canvas data-metric"); at != std::string::npos;
       at = dom.find("<canvas data-metric", at + 1)) {
    const std::string tag = dom.substr(at, dom.find('>', at) - at);
    const std::string metric = Attribute(tag, "data-metric");
    charted.push_back(metric);
    EXPECT_GT(std::stoi("0" + Attribute(tag, "data-painted-pixels")), 1000) << metric;
    EXPECT_EQ(Attribute(tag, "data-lines-expected"), "2") << metric;
    EXPECT_EQ(Attribute(tag, "data-lines-drawn"), "2") << metric;
    EXPECT_EQ(Attribute(tag, "data-bands-expected"), "2") << metric;
    EXPECT_EQ(Attribute(tag, "data-bands-drawn"), "2") << metric;
  }
  EXPECT_THAT(charted, ::testing::ElementsAre("content.vendi", "consumption.welfare",
                                              "zeta.custom"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace feedloop::report
