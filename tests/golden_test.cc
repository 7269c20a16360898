// The default experiment's numbers, pinned: configs/default.pbtxt made small
// (tests/golden/small.edit.pbtxt is merged over it, the sweep dropped) is
// run once, and every metric of every round must equal
// tests/golden/small.expected.csv. A change that moves the model's numbers,
// even one that moves every run alike and so passes every validation,
// fails here; when the change is meant, regenerate the file and say why in
// the commit:
//
//   FEEDLOOP_UPDATE_GOLDEN=1 build/tests/golden_test
//
// The values are compared to 1e-9 relative. The test runs with one BLAS
// kernel (OPENBLAS_CORETYPE, set by tests/CMakeLists.txt), because
// OpenBLAS picks its kernel by CPU and different kernels round sums
// differently.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "config/config.h"
#include "feedloop/v1/diversity.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "loop/experiment_service.h"
#include "stack/embedded_stack.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using Values = std::map<std::pair<std::string, uint32_t>, std::string>;

std::string Source(const std::string& path) {
  return absl::StrCat(FEEDLOOP_SOURCE_DIR, "/", path);
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Golden, TheSmallDefaultExperimentGivesThePinnedNumbers) {
  ASSERT_OK_AND_ASSIGN(v1::ExperimentConfig config,
                       config::LoadConfigFile(Source("configs/default.pbtxt")));
  config.clear_sweep();
  v1::ExperimentConfig edit;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      Read(Source("tests/golden/small.edit.pbtxt")), &edit));
  config.MergeFrom(edit);
  ASSERT_OK(config::ValidateConfig(config));

  const std::string dir = absl::StrCat(::testing::TempDir(), "/golden_", getpid());
  std::filesystem::remove_all(dir);
  stack::EmbeddedStack::Options options;
  options.data_dir = dir;
  ASSERT_OK_AND_ASSIGN(auto stack, stack::EmbeddedStack::Start(options));
  ASSERT_OK_AND_ASSIGN(auto started, stack->experiments()->Start(config));
  stack->experiments()->WaitUntilIdle();
  ASSERT_EQ(started.run_ids_size(), 1);
  ASSERT_OK_AND_ASSIGN(v1::RunRecord run, stack->store()->GetRun(started.run_ids(0)));
  ASSERT_EQ(run.status(), v1::DONE) << run.error();
  v1::GetSeriesRequest req;
  req.add_run_ids(run.run_id());
  ASSERT_OK_AND_ASSIGN(v1::GetSeriesResponse series, stack->store()->GetSeries(req));
  Values got;
  for (const v1::Series& s : series.series()) {
    for (int i = 0; i < s.values_size(); ++i) {
      got[{s.metric(), s.rounds(i)}] = absl::StrFormat("%.17g", s.values(i));
    }
    for (int i = 0; i < s.absent_rounds_size(); ++i) {
      got[{s.metric(), s.absent_rounds(i)}] = "absent";
    }
  }
  stack.reset();
  std::filesystem::remove_all(dir);
  ASSERT_GT(got.size(), 100u);

  const std::string expected_path = Source("tests/golden/small.expected.csv");
  if (std::getenv("FEEDLOOP_UPDATE_GOLDEN") != nullptr) {
    std::ofstream out(expected_path);
    out << "metric,round,value\n";
    for (const auto& [key, value] : got) {
      out << key.first << "," << key.second << "," << value << "\n";
    }
    GTEST_SKIP() << "wrote " << expected_path;
  }
  Values expected;
  for (absl::string_view line : absl::StrSplit(Read(expected_path), '\n', absl::SkipEmpty())) {
    if (line == "metric,round,value") continue;
    std::vector<std::string> f = absl::StrSplit(line, ',');
    ASSERT_EQ(f.size(), 3u) << line;
    uint32_t round = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[1], &round)) << line;
    expected[{f[0], round}] = f[2];
  }
  ASSERT_FALSE(expected.empty()) << expected_path << " is missing or empty";

  int differing = 0;
  for (const auto& [key, want] : expected) {
    auto it = got.find(key);
    if (it == got.end()) {
      ADD_FAILURE() << key.first << " round " << key.second << ": no longer measured";
      continue;
    }
    double w = 0, g = 0;
    const bool numbers = absl::SimpleAtod(want, &w) && absl::SimpleAtod(it->second, &g);
    const bool same = numbers ? std::abs(g - w) <= 1e-9 * std::max(1.0, std::abs(w))
                              : want == it->second;
    if (!same && ++differing <= 20) {
      ADD_FAILURE() << key.first << " round " << key.second << ": " << it->second
                    << ", pinned " << want;
    }
  }
  for (const auto& [key, value] : got) {
    if (!expected.contains(key)) {
      ADD_FAILURE() << key.first << " round " << key.second << ": new (" << value
                    << "), not pinned";
    }
  }
  EXPECT_EQ(differing, 0) << "values differ from " << expected_path
                          << " (regenerate it only for a change meant to move them)";
}

}  // namespace
}  // namespace feedloop
