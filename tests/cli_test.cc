// `feedloop run` as a user runs it: exit codes, messages, files.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "feedloop/v1/summary.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "rpc/server.h"
#include "testing/net.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace feedloop {
namespace {

using ::feedloop::testing::FreePort;
using ::feedloop::testing::HttpGet;
using ::testing::HasSubstr;

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

Result RunFeedloop(const std::string& args) {
  auto child = ::feedloop::testing::Subprocess::Start(
      {"/bin/sh", "-c", absl::StrCat(FEEDLOOP_BINARY, " ", args, " 2>&1; echo EXIT=$?")});
  EXPECT_OK(child.status());
  auto line = (*child)->ReadLineContaining("EXIT=", absl::Seconds(120));
  EXPECT_OK(line.status());
  // Everything before the marker, for the message checks.
  Result r{-1, ""};
  if (line.ok()) r.exit_code = std::stoi(line->substr(line->find('=') + 1));
  return r;
}

std::string Capture(const std::string& args, int* exit_code) {
  const std::string out = absl::StrCat(::testing::TempDir(), "/cli_out_", getpid(), ".txt");
  Result r = RunFeedloop(absl::StrCat(args, " > ", out));
  *exit_code = r.exit_code;
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", getpid(), "_", name);
  std::ofstream(path) << text;
  return path;
}

TEST(Cli, BadConfigsExitWithCodeTwoAndNameTheField) {
  int code = 0;
  std::string out = Capture(
      absl::StrCat("run --config ", WriteFile("typo.pbtxt", "rounds: 3\ngenerator { alpah: 1 }\n")),
      &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(out, HasSubstr("typo.pbtxt:2:"));
  EXPECT_THAT(out, HasSubstr("alpah"));

  out = Capture(absl::StrCat("run --config ", WriteFile("range.pbtxt", "users { attention: 20 }\n")),
                &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(out, HasSubstr("users.attention: must be in [1, 10]"));

  out = Capture("run --config /nonexistent.pbtxt", &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(out, HasSubstr("/nonexistent.pbtxt"));

  out = Capture("frobnicate", &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(out, HasSubstr("unknown command 'frobnicate'"));
}

TEST(Cli, AMemoryBudgetRefusesWhatDoesNotFit) {
  int code = 0;
  const std::string dir = absl::StrCat(::testing::TempDir(), "/cli_budget_", getpid());
  const std::string config = WriteFile("budget.pbtxt", "users { count: 20000 }\n");
  std::string out = Capture(
      absl::StrCat("run --config ", config, " -o ", dir, " --memory_budget 12parsecs"), &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(out, HasSubstr("--memory_budget: '12parsecs' is not a size"));
  // The experiment needs more than 1 MiB in the loop: refused, naming its
  // largest terms, before a run is recorded.
  out = Capture(absl::StrCat("run --config ", config, " -o ", dir, " --memory_budget 1MiB"),
                &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(out, HasSubstr("memory budget is 1.00 MiB"));
  EXPECT_THAT(out, HasSubstr("users.count x"));
  std::filesystem::remove_all(dir);
}

TEST(Cli, RunWritesMetricsAndSummary) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/cli_runs_", getpid());
  std::filesystem::remove_all(dir);
  const std::string config = WriteFile("tiny.pbtxt", R"(
      name: "clitest" rounds: 4
      space { dim: 8 topics: 4 }
      users { count: 100 }
      creators { count: 10 items_per_round: 4 }
      ranker { candidates: 20 item_ttl_rounds: 2 }
      sweep { parameter: "generator.alpha" values: ["0", "1"] replicates: 2 })");
  int code = 0;
  const std::string out =
      Capture(absl::StrCat("run --config ", config, " -o ", dir), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("generator.alpha"));
  EXPECT_THAT(out, HasSubstr("content.vendi"));
  EXPECT_THAT(out, HasSubstr("±"));  // replicates give intervals

  std::string experiment;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("clitest-", 0) == 0) {
      experiment = entry.path().string();
    }
  }
  ASSERT_FALSE(experiment.empty()) << out;
  std::ifstream csv(experiment + "/metrics.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "run,round,metric,value,absent");
  size_t rows = 0;
  std::string line;
  while (std::getline(csv, line)) {
    const std::vector<std::string> fields = absl::StrSplit(line, ',');
    ASSERT_EQ(fields.size(), 5u) << line;
    // A value, or no value and the reason it is undefined.
    EXPECT_NE(fields[3].empty(), fields[4].empty()) << line;
    ++rows;
  }
  EXPECT_GT(rows, 4u * 4 * 15);  // 4 runs x 4 rounds x most metrics

  std::ifstream json_in(experiment + "/summary.json");
  std::stringstream json;
  json << json_in.rdbuf();
  v1::ExperimentSummary summary;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.str(), &summary).ok());
  EXPECT_EQ(summary.runs_size(), 4);
  ASSERT_EQ(summary.groups_size(), 2);
  EXPECT_EQ(summary.groups(1).sweep_value(), "1");
  EXPECT_EQ(summary.sweep_parameter(), "generator.alpha");
  for (const auto& run : summary.runs()) EXPECT_EQ(run.status(), v1::DONE);

  // report.html: the page report_test renders in Chromium, for these runs.
  std::ifstream report_in(experiment + "/report.html");
  std::stringstream report;
  report << report_in.rdbuf();
  EXPECT_THAT(report.str(), HasSubstr("generator.alpha = 1 <small>(n = 2)</small>"));
  for (const auto& run : summary.runs()) {
    EXPECT_THAT(report.str(), HasSubstr(absl::StrCat("<td>", run.run_id(), "</td>")));
  }
  EXPECT_THAT(out, HasSubstr("report.html"));
  std::filesystem::remove_all(dir);
}


// `feedloop serve --metrics_listen` serves Prometheus metrics that count
// the calls it answered.
TEST(Cli, ServeExposesPrometheusMetrics) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/cli_metrics_", getpid());
  std::filesystem::remove_all(dir);
  ASSERT_OK_AND_ASSIGN(auto store,
                       ::feedloop::testing::Subprocess::Start({FEEDLOOP_BINARY, "serve", "store", "--listen",
                                                   "127.0.0.1:0", "--data_dir", dir,
                                                   "--metrics_listen", "127.0.0.1:0"}));
  ASSERT_OK_AND_ASSIGN(std::string line,
                       store->ReadLineContaining("metrics on http://", absl::Seconds(20)));
  const std::string metrics = line.substr(line.find("http://") + 7,
                                          line.find("/metrics") - line.find("http://") - 7);
  ASSERT_OK_AND_ASSIGN(std::string addr, store->WaitForListeningAddress());
  int code = 0;
  Capture(absl::StrCat("query runs --addr ", addr), &code);
  EXPECT_EQ(code, 0);
  EXPECT_THAT(HttpGet(metrics, "/metrics"),
              HasSubstr("feedloop_rpc_requests_total{code=\"OK\",method=\"/"
                        "feedloop.v1.DiversityService/ListRuns\"} 1"));
  EXPECT_THAT(HttpGet(metrics, "/elsewhere"), HasSubstr("try /metrics"));
  store->Kill(SIGTERM);
  EXPECT_EQ(store->Wait(), 0);
  std::filesystem::remove_all(dir);
}

// The metric values of metrics.csv (run, round, metric, value) without the
// run ids, which differ between runs of one config.
std::vector<std::string> ValuesOf(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_directory() || entry.path().filename().string()[0] == '.') continue;
    std::ifstream in(entry.path() / "metrics.csv");
    std::string line;
    while (std::getline(in, line)) out.push_back(line.substr(line.find(',')));
  }
  return out;
}

TEST(Cli, HealthAndRunsOnDeployedServices) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/cli_deployed_", getpid());
  std::filesystem::remove_all(dir);
  auto serve = [](std::vector<std::string> args) {
    args.insert(args.begin(), {FEEDLOOP_BINARY, "serve"});
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
    auto child = ::feedloop::testing::Subprocess::Start(args);
    EXPECT_OK(child.status());
    return *std::move(child);
  };
  auto store = serve({"store", "--data_dir", dir + "/db"});
  ASSERT_OK_AND_ASSIGN(const std::string s, store->WaitForListeningAddress());
  auto ranker = serve({"ranker", "--store", s});
  ASSERT_OK_AND_ASSIGN(const std::string r, ranker->WaitForListeningAddress());
  auto generator = serve({"generator", "--ranker", r});
  ASSERT_OK_AND_ASSIGN(const std::string g, generator->WaitForListeningAddress());
  auto loop = serve({"loop", "--store", s, "--ranker", r, "--generator", g});
  ASSERT_OK_AND_ASSIGN(const std::string l, loop->WaitForListeningAddress());

  int code = -1;
  for (const std::string& addr : {s, r, g, l}) {
    EXPECT_EQ(Capture("health " + addr, &code), "SERVING\n");
    EXPECT_EQ(code, 0);
  }
  const std::string nobody = absl::StrCat("127.0.0.1:", FreePort());
  EXPECT_THAT(Capture("health " + nobody, &code), HasSubstr(nobody));
  EXPECT_EQ(code, 1);

  const std::string config = WriteFile("deployed.pbtxt", R"(
      name: "deployed" seed: 4 rounds: 3
      space { dim: 8 topics: 4 }
      users { count: 100 }
      creators { count: 10 items_per_round: 4 }
      generator { alpha: 0.5 reward_users: 16 }
      ranker { candidates: 20 item_ttl_rounds: 2 })");
  // Through the deployed loop; with the loop here and the rest deployed;
  // all in-process. The same science each way.
  Capture(absl::StrCat("run --loop ", l, " --store ", s, " --config ", config,
                       " -o ", dir, "/via_loop"), &code);
  EXPECT_EQ(code, 0);
  Capture(absl::StrCat("run --store ", s, " --ranker ", r, " --generator ", g,
                       " --config ", config, " -o ", dir, "/loop_here"), &code);
  EXPECT_EQ(code, 0);
  Capture(absl::StrCat("run --config ", config, " -o ", dir, "/embedded"), &code);
  EXPECT_EQ(code, 0);
  const std::vector<std::string> embedded = ValuesOf(dir + "/embedded");
  EXPECT_GT(embedded.size(), 30u);
  EXPECT_EQ(ValuesOf(dir + "/via_loop"), embedded);
  EXPECT_EQ(ValuesOf(dir + "/loop_here"), embedded);
  Capture(absl::StrCat("query runs --addr ", s, " --format csv"), &code);
  EXPECT_EQ(code, 0);

  EXPECT_THAT(Capture(absl::StrCat("run --loop ", l, " --config ", config), &code),
              HasSubstr("--loop needs --store"));
  EXPECT_EQ(code, 2);
  for (auto* child : {loop.get(), generator.get(), ranker.get(), store.get()}) {
    child->Kill(SIGTERM);
    EXPECT_EQ(child->Wait(), 0);
  }
  std::filesystem::remove_all(dir);
}

TEST(Cli, InterruptStopsTheRunsAndKeepsTheirRounds) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/cli_interrupt_", getpid());
  std::filesystem::remove_all(dir);
  const std::string config = WriteFile("long.pbtxt", R"(
      name: "long" seed: 2 rounds: 100000
      space { dim: 8 topics: 4 }
      users { count: 100 }
      creators { count: 10 items_per_round: 4 }
      ranker { candidates: 20 item_ttl_rounds: 2 })");
  ASSERT_OK_AND_ASSIGN(auto run, ::feedloop::testing::Subprocess::Start(
                                     {FEEDLOOP_BINARY, "run", "--config", config, "-o", dir}));
  ASSERT_OK_AND_ASSIGN(const std::string line,
                       run->ReadLineContaining("experiment ", absl::Seconds(30)));
  const std::string id = line.substr(11, line.find(':') - 11);
  // Interrupted once the run has committed rounds, read from its store
  // (in-process, its address on the same line).
  const size_t at = line.find(", store ") + 8;
  const std::string store_address = line.substr(at, line.find(' ', at) - at);
  auto diversity = v1::DiversityService::NewStub(CreateChannel(store_address));
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  v1::RunRecord record;
  while (record.rounds_done() < 2 && absl::Now() < give_up) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::GetRunRequest get;
    get.set_run_id(id);
    if (!diversity->GetRun(&ctx, get, &record).ok()) record.Clear();
    absl::SleepFor(absl::Milliseconds(20));  // polling the condition
  }
  ASSERT_GE(record.rounds_done(), 2u) << "no rounds committed in 60 s";
  run->Kill(SIGINT);
  ASSERT_OK_AND_ASSIGN(const std::string rest, run->ReadAll(absl::Seconds(60)));
  const int status = run->Wait();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);  // not every run is DONE
  EXPECT_THAT(rest, HasSubstr("wrote "));
  std::ifstream in(absl::StrCat(dir, "/", id, "/summary.json"));
  std::stringstream json;
  json << in.rdbuf();
  EXPECT_THAT(json.str(), HasSubstr("\"STOPPED\""));
  EXPECT_THAT(json.str(), HasSubstr("\"rounds_done\": "));
  EXPECT_THAT(json.str(), ::testing::Not(HasSubstr("\"rounds_done\": 0,")));
  std::filesystem::remove_all(dir);
}

TEST(Cli, RunServeThenQuery) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/cli_serve_", getpid());
  std::filesystem::remove_all(dir);
  const std::string config = WriteFile("serve.pbtxt", R"(
      name: "served" rounds: 3
      space { dim: 8 topics: 4 }
      users { count: 60 }
      creators { count: 8 items_per_round: 4 }
      ranker { candidates: 20 item_ttl_rounds: 2 })");
  const std::string addr = absl::StrCat("127.0.0.1:", FreePort());
  ASSERT_OK_AND_ASSIGN(
      auto server, ::feedloop::testing::Subprocess::Start(
                       {FEEDLOOP_BINARY, "run", "--config", config, "-o", dir,
                        "--serve", absl::StrCat("--store_listen=", addr)}));
  ASSERT_OK(server->ReadLineContaining("serving until Ctrl-C", absl::Seconds(60)).status());

  int code = 0;
  std::string runs = Capture(absl::StrCat("query runs --format csv --addr ", addr), &code);
  EXPECT_EQ(code, 0) << runs;
  const std::vector<std::string> lines = absl::StrSplit(runs, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << runs;  // header and one run
  const std::string run_id = lines[1].substr(0, lines[1].find(','));
  EXPECT_THAT(lines[1], HasSubstr(",DONE,3/3,"));

  std::string series = Capture(
      absl::StrCat("query series ", run_id, " --metrics content.vendi --format csv --addr ", addr),
      &code);
  EXPECT_EQ(code, 0) << series;
  EXPECT_THAT(series, HasSubstr(absl::StrCat(run_id, ",2,content.vendi,")));

  std::string compare = Capture(
      absl::StrCat("query compare ", run_id, " --metrics slate.ild --addr ", addr), &code);
  EXPECT_EQ(code, 0) << compare;
  EXPECT_THAT(compare, HasSubstr("slate.ild"));

  std::string watch = Capture(
      absl::StrCat("query watch ", run_id, " --format csv --metrics exposure.coverage --addr ", addr),
      &code);
  EXPECT_EQ(code, 0) << watch;
  EXPECT_THAT(watch, HasSubstr(",2,exposure.coverage,"));

  std::string missing = Capture(absl::StrCat("query series nope --addr ", addr, " 2>&1"), &code);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(missing, HasSubstr("run 'nope' not found"));

  // A folder given for the vectors is named as such, not read as no rows.
  std::string folder = Capture(
      absl::StrCat("query evaluate --embeddings ", dir, " --addr ", addr, " 2>&1"), &code);
  EXPECT_EQ(code, 2) << folder;
  EXPECT_THAT(folder, HasSubstr("is a directory"));

  server->Kill(SIGINT);
  const int status = server->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace feedloop
