// feedloop-loadtest: load on one RankerService or IngestService RPC, with
// latency measured without coordinated omission. See loadtest/load_test.h.
//
//   feedloop-loadtest --target 127.0.0.1:7002 --rpc Rank --run RUN --rate 2000
//   feedloop-loadtest --target 127.0.0.1:7002 --rpc RankBatch --run RUN
//       --concurrency 8 --batch 64 --out results.json --csv buckets.csv
//   feedloop-loadtest --prepare 100000 --store 127.0.0.1:7001
//       --target 127.0.0.1:7002 --run lt-1 --rpc Rank --rate 1000
//
// Flags take '-' or '_' (--max-inflight, --max_inflight).
// Exit: 0 done; 1 the error rate passed --max_error_rate, or the test could
// not run (unreachable target, failed first call); 2 bad flags.

#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/transport_flags.h"
#include "loadtest/load_test.h"
#include "loadtest/prepare.h"

ABSL_FLAG(std::string, target, "", "HOST:PORT of the ranker (or the store, for Ingest)");
ABSL_FLAG(std::string, rpc, "Rank", "Rank, RankBatch, Retrieve, ScoreItems or Ingest");
ABSL_FLAG(std::string, run, "", "the run the requests name (open on the target)");
ABSL_FLAG(double, rate, 0, "open loop: requests per second; 0 for closed loop");
ABSL_FLAG(std::string, arrival, "constant", "open loop arrivals: constant or poisson");
ABSL_FLAG(int, concurrency, 16, "closed loop: requests in flight");
ABSL_FLAG(int, max_inflight, 10000,
          "open loop: most outstanding requests; due requests past it wait (and the "
          "wait counts as latency)");
ABSL_FLAG(int, connections, 4, "channels (TCP connections), used round-robin");
ABSL_FLAG(int, threads, 0,
          "client threads, each polling its own completion queue; 0: one per core, at "
          "most one per connection");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1), "warm-up, not measured");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured time");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(5), "deadline of every call");
ABSL_FLAG(uint64_t, seed, 1, "seed of the request contents");
ABSL_FLAG(uint32_t, users, 10000, "user ids are drawn from [0, users)");
ABSL_FLAG(double, zipf_s, 0, "Zipf exponent of user ids; 0 for uniform");
ABSL_FLAG(uint32_t, batch, 64,
          "users per RankBatch, queries per Retrieve, candidates per ScoreItems, items "
          "per Ingest");
ABSL_FLAG(uint32_t, dim, 64, "the run's embedding dimension");
ABSL_FLAG(uint32_t, slate_size, 10, "Rank, RankBatch: slate size");
ABSL_FLAG(uint32_t, k, 100, "Retrieve: candidates per query");
ABSL_FLAG(std::string, out, "", "write the results as JSON here");
ABSL_FLAG(std::string, csv, "", "write the latency histogram's buckets as CSV here");
ABSL_FLAG(double, max_error_rate, 0.01,
          "exit 1 when more than this share of measured requests fail");
ABSL_FLAG(uint32_t, prepare, 0,
          "first create run --run with this many items in --store and open it on "
          "--target (a ranker)");
ABSL_FLAG(std::string, store, "", "--prepare: the store's HOST:PORT");
ABSL_FLAG(std::string, index, "HNSW", "--prepare: the ranker's index, FLAT, IVF or HNSW");

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int Fail(int code, const std::string& message) {
  std::cerr << "feedloop-loadtest: " << message << "\n";
  return code;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load on one feedloop RPC, latency without coordinated omission.\n"
      "  feedloop-loadtest --target HOST:PORT --rpc Rank --run RUN [--rate R | "
      "--concurrency C]");
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "loadtest/") ||
           absl::StrContains(file, "cli/transport_flags.cc");
  };
  absl::SetFlagsUsageConfig(usage_config);
  // --max-inflight is --max_inflight: absl flag names cannot hold '-'.
  std::vector<std::string> storage(argv, argv + argc);
  for (std::string& arg : storage) {
    if (!absl::StartsWith(arg, "--")) continue;
    const size_t end = std::min(arg.find('='), arg.size());
    for (size_t i = 2; i < end; ++i) {
      if (arg[i] == '-') arg[i] = '_';
    }
  }
  std::vector<char*> args;
  for (std::string& arg : storage) args.push_back(arg.data());
  const std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(args.size()),
                                                          args.data());
  if (rest.size() > 1) return Fail(kExitUsage, absl::StrCat("unexpected argument '", rest[1], "'"));

  using feedloop::loadtest::LoadTest;
  LoadTest::Options o;
  o.target = absl::GetFlag(FLAGS_target);
  auto rpc = feedloop::loadtest::ParseRpc(absl::GetFlag(FLAGS_rpc));
  if (!rpc.ok()) return Fail(kExitUsage, std::string(rpc.status().message()));
  o.rpc = *rpc;
  o.run_id = absl::GetFlag(FLAGS_run);
  o.rate = absl::GetFlag(FLAGS_rate);
  const std::string arrival = absl::GetFlag(FLAGS_arrival);
  if (arrival == "poisson") {
    o.arrival = feedloop::loadtest::Arrival::kPoisson;
  } else if (arrival != "constant") {
    return Fail(kExitUsage, "arrival: must be constant or poisson, got '" + arrival + "'");
  }
  o.concurrency = absl::GetFlag(FLAGS_concurrency);
  o.max_inflight = absl::GetFlag(FLAGS_max_inflight);
  o.connections = absl::GetFlag(FLAGS_connections);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.warmup = absl::GetFlag(FLAGS_warmup);
  o.duration = absl::GetFlag(FLAGS_duration);
  o.deadline = absl::GetFlag(FLAGS_deadline);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.users = absl::GetFlag(FLAGS_users);
  o.zipf_s = absl::GetFlag(FLAGS_zipf_s);
  o.batch = absl::GetFlag(FLAGS_batch);
  o.dim = absl::GetFlag(FLAGS_dim);
  o.slate_size = absl::GetFlag(FLAGS_slate_size);
  o.k = absl::GetFlag(FLAGS_k);
  const double max_error_rate = absl::GetFlag(FLAGS_max_error_rate);
  if (!(max_error_rate >= 0 && max_error_rate <= 1)) {
    return Fail(kExitUsage, "max_error_rate: must be in [0, 1]");
  }
  auto transport = feedloop::cli::TransportFromFlags();
  if (!transport.ok()) return Fail(kExitUsage, std::string(transport.status().message()));
  o.transport = *transport;
  if (absl::Status s = LoadTest::Validate(o); !s.ok()) {
    return Fail(kExitUsage, std::string(s.message()));
  }

  if (const uint32_t items = absl::GetFlag(FLAGS_prepare); items > 0) {
    feedloop::loadtest::PrepareOptions p;
    p.store = absl::GetFlag(FLAGS_store);
    p.ranker = o.rpc == feedloop::loadtest::Rpc::kIngest ? "" : o.target;
    p.transport = o.transport;
    p.run_id = o.run_id;
    p.items = items;
    p.dim = o.dim;
    p.users = o.users;
    p.seed = o.seed;
    const std::string index = absl::GetFlag(FLAGS_index);
    if (!feedloop::v1::RankerConfig::IndexType_Parse(index, &p.index)) {
      return Fail(kExitUsage, "index: must be FLAT, IVF or HNSW, got '" + index + "'");
    }
    std::cerr << "preparing run " << p.run_id << ": " << items << " items of dim "
              << p.dim << " ...\n";
    if (absl::Status s = feedloop::loadtest::PrepareRun(p); !s.ok()) {
      return Fail(kExitFailed, std::string(s.message()));
    }
  }

  std::cerr << "running " << absl::FormatDuration(o.warmup) << " warm-up + "
            << absl::FormatDuration(o.duration) << " ...\n";
  auto result = LoadTest::Run(o);
  if (!result.ok()) return Fail(kExitFailed, std::string(result.status().message()));
  std::cout << feedloop::loadtest::FormatSummary(o, *result);
  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) {
    if (!WriteFile(out, feedloop::loadtest::ToJson(o, *result))) {
      return Fail(kExitFailed, "cannot write " + out);
    }
  }
  if (const std::string csv = absl::GetFlag(FLAGS_csv); !csv.empty()) {
    if (!WriteFile(csv, feedloop::loadtest::ToCsv(*result))) {
      return Fail(kExitFailed, "cannot write " + csv);
    }
  }
  if (result->error_rate() > max_error_rate) {
    return Fail(kExitFailed, absl::StrCat("error rate ", result->error_rate(),
                                          " is above --max_error_rate ", max_error_rate));
  }
  return 0;
}
