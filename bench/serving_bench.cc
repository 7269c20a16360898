// Served against in-process, on one machine and in one run, so each figure
// reads as a ratio (issue 7's P1, P3, P4, gRPC overhead and the FAISS
// batching sizes):
//
//   ./dev bench serving             (build/bench/serving_bench --help)
//
//   P1        served Rank throughput (feedloop-loadtest's engine, closed
//             loop over loopback) / in-process Rank throughput on the very
//             Ranker the server serves; HNSW and IVF, 100k items, d = 64
//   overhead  served p50 - in-process p50, one request at a time
//   ceiling   the RPC rate of an empty Rank handler, and its p50
//   P3        our load generator / h2load (nghttp2-client, pre-framed gRPC
//             requests) on the empty handler: max rate, and p50 one at a time
//   batching  RankBatch users/s at batch 1, 8, 20, 64, 256, in-process and
//             served, with FAISS's OpenMP threads against the server's pool
//   P4        served Ingest items/s (WAL synced per request) / RocksDB's own
//             db_bench fillrandom with the same value size, key size, batch
//             size, sync and writer count
//
// The load generator, the server and the baselines share the machine's
// cores: on 2 cores no pinning leaves either side a core to itself, so none
// is done and the served figures carry the generator's CPU cost.

#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "rpc/server.h"
#include "common/table.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "loadtest/histogram.h"
#include "loadtest/load_test.h"
#include "loadtest/prepare.h"
#include "common/thread_pool.h"
#include "ranker/ranker.h"
#include "testing/subprocess.h"

ABSL_FLAG(std::string, only, "p1,overhead,batching,ceiling,p3,p4",
          "the parts to run, comma-separated");
ABSL_FLAG(std::string, index, "HNSW,IVF", "P1: the index types");
ABSL_FLAG(uint32_t, items, 100000, "P1: items in the index");
ABSL_FLAG(double, seconds, 5, "measured seconds of each load");
ABSL_FLAG(bool, serve_empty, false, "internal: serve the empty Rank handler until killed");
ABSL_FLAG(int, concurrency, 8, "P1: requests in flight (served), threads = cores (in-process)");

namespace feedloop::bench {
namespace {

using loadtest::LoadTest;
constexpr uint32_t kDim = 64;
constexpr uint32_t kUsers = 10000;

std::vector<std::string> g_rows;  // the summary, printed at the end
void Report(const std::string& line) {
  std::cout << line << std::endl;
  g_rows.push_back(line);
}

[[noreturn]] void Die(const absl::Status& s) {
  std::cerr << "serving_bench: " << s << "\n";
  std::exit(1);
}

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) Die(v.status());
  return *std::move(v);
}

absl::Duration Seconds() { return absl::Seconds(absl::GetFlag(FLAGS_seconds)); }

// Runs a shell command and returns its standard output.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// The number after `label` on the first line holding it, or -1.
double NumberAfter(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return -1;
  double v = -1;
  std::string rest = text.substr(at + label.size(), 40);
  rest = std::string(absl::StripLeadingAsciiWhitespace(rest));
  const size_t end = rest.find_first_not_of("0123456789.");
  (void)absl::SimpleAtod(rest.substr(0, end), &v);
  return v;
}

LoadTest::Options Load(const std::string& target, loadtest::Rpc rpc,
                       const std::string& run_id) {
  LoadTest::Options o;
  o.target = target;
  o.rpc = rpc;
  o.run_id = run_id;
  o.dim = kDim;
  o.users = kUsers;
  o.warmup = absl::Seconds(1);
  o.duration = Seconds();
  return o;
}

// In-process: `threads` threads calling RankBatch with `batch` users for
// the measured time. Users per second, and the p50 of one call when
// `latency` is given.
double InProcess(const ranker::Ranker& ranker, int threads, uint32_t batch,
                 loadtest::Histogram* latency = nullptr) {
  std::atomic<uint64_t> users_done{0};
  const absl::Time start = absl::Now() + absl::Milliseconds(200);  // warm-up
  const absl::Time end = start + Seconds();
  std::vector<std::thread> pool;
  std::vector<loadtest::Histogram> hists(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Rng rng(DeriveSeed(1, t));
      std::vector<v1::Slate> slates;
      google::protobuf::RepeatedPtrField<v1::UserQuery> users;
      for (uint32_t i = 0; i < batch; ++i) users.Add();
      for (absl::Time now = absl::Now(); now < end; now = absl::Now()) {
        for (auto& u : users) u.set_user_id(static_cast<uint32_t>(rng.UniformInt(kUsers)));
        const absl::Time t0 = absl::Now();
        if (!ranker.RankBatch(users, 10, &slates).ok()) std::abort();
        if (t0 >= start) {
          hists[t].Record(absl::ToInt64Nanoseconds(absl::Now() - t0));
          users_done += batch;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  if (latency != nullptr) {
    for (const auto& h : hists) latency->Merge(h);
  }
  return static_cast<double>(users_done.load()) / absl::ToDoubleSeconds(Seconds());
}

// The store and ranker as their own processes (`feedloop serve`), as
// operators run them: a client in the servers' process shares gRPC's
// pollers with them and measured about 300 us more per request.
struct Services {
  std::string dir;
  std::unique_ptr<testing::Subprocess> store, ranker;
  std::string store_address, ranker_address;
  ~Services() {
    ranker.reset();  // SIGKILL; nothing to keep
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

std::unique_ptr<Services> StartServices(bool sync) {
  auto s = std::make_unique<Services>();
  s->dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                        "/feedloop_serving_bench_", getpid());
  std::filesystem::remove_all(s->dir);
  s->store = OrDie(testing::Subprocess::Start(
      {FEEDLOOP_BINARY, "serve", "store", "--listen", "127.0.0.1:0", "--data_dir", s->dir,
       absl::StrCat("--sync=", sync ? "true" : "false")}));
  s->store_address = OrDie(s->store->WaitForListeningAddress());
  s->ranker = OrDie(testing::Subprocess::Start(
      {FEEDLOOP_BINARY, "serve", "ranker", "--listen", "127.0.0.1:0", "--store",
       s->store_address}));
  s->ranker_address = OrDie(s->ranker->WaitForListeningAddress());
  return s;
}

// Prepares the run on the served ranker, and builds the same index with the
// same items and settings in this process.
std::unique_ptr<ranker::Ranker> Prepare(Services& s, const std::string& run_id,
                                        v1::RankerConfig::IndexType index, uint32_t items,
                                        ThreadPool* pool) {
  loadtest::PrepareOptions p;
  p.store = s.store_address;
  p.ranker = s.ranker_address;
  p.run_id = run_id;
  p.items = items;
  p.dim = kDim;
  p.users = kUsers;
  p.index = index;
  std::cerr << "building " << v1::RankerConfig::IndexType_Name(index) << " over "
            << items << " items, served and in-process ...\n";
  if (absl::Status st = loadtest::PrepareRun(p); !st.ok()) Die(st);
  ranker::Ranker::Options options;
  options.pool = pool;
  auto local = OrDie(ranker::Ranker::Create(loadtest::PrepareConfig(p), options));
  const std::vector<v1::Item> all = loadtest::SyntheticItems(p, 0, items);
  if (absl::Status st = local->AdvanceRound(0, all); !st.ok()) Die(st);
  return local;
}

double Us(int64_t ns) { return static_cast<double>(ns) / 1e3; }

// ---- P1 and the gRPC overhead, per index type.
void P1(bool p1, bool overhead) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_index), ',')) {
    v1::RankerConfig::IndexType index;
    if (!v1::RankerConfig::IndexType_Parse(std::string(name), &index)) {
      Die(absl::InvalidArgumentError(absl::StrCat("index: unknown '", name, "'")));
    }
    auto s = StartServices(/*sync=*/false);
    const std::string run_id = absl::StrCat("bench-", name);
    ThreadPool pool(cores, 0);
    auto ranker = Prepare(*s, run_id, index, absl::GetFlag(FLAGS_items), &pool);
    if (p1) {
      const double local = InProcess(*ranker, cores, 1);
      LoadTest::Options o = Load(s->ranker_address, loadtest::Rpc::kRank, run_id);
      o.concurrency = absl::GetFlag(FLAGS_concurrency);
      const LoadTest::Result r = OrDie(LoadTest::Run(o));
      Report(absl::StrFormat(
          "P1 %-5s served Rank %.0f/s (closed loop, %d in flight, %d errors) / "
          "in-process "
          "%.0f/s (%d threads) = %.2f  [target >= 0.8]",
          std::string(name), r.achieved_rate, o.concurrency,
          r.measured_requests - (r.codes.count("OK") ? r.codes.at("OK") : 0),
          local, cores, r.achieved_rate / local));
    }
    if (overhead) {
      loadtest::Histogram local;
      InProcess(*ranker, 1, 1, &local);
      LoadTest::Options o = Load(s->ranker_address, loadtest::Rpc::kRank, run_id);
      o.concurrency = 1;
      o.connections = 1;
      const LoadTest::Result r = OrDie(LoadTest::Run(o));
      Report(absl::StrFormat(
          "overhead %-5s p50 served %.1f us - in-process %.1f us = %.1f us per request  "
          "[target <= 60 us]",
          std::string(name), Us(r.latency.Percentile(50)), Us(local.Percentile(50)),
          Us(r.latency.Percentile(50) - local.Percentile(50))));
    }
  }
}

// ---- batching: RankBatch at several batch sizes, in-process and served.
void Batching() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  auto s = StartServices(/*sync=*/false);
  ThreadPool pool(cores, 0);
  auto ranker =
      Prepare(*s, "bench-batch", v1::RankerConfig::IVF, absl::GetFlag(FLAGS_items), &pool);
  Report(absl::StrFormat(
      "batching: FAISS OpenMP threads %d per search (at most one per query), server "
      "request pool %d threads, %d cores",
      omp_get_max_threads(), cores, cores));
  Table table({"batch", "in-process users/s", "served users/s", "served/in-process"});
  for (uint32_t batch : {1u, 8u, 20u, 64u, 256u}) {
    const double local = InProcess(*ranker, cores, batch);
    LoadTest::Options o = Load(s->ranker_address, loadtest::Rpc::kRankBatch, "bench-batch");
    o.batch = batch;
    o.concurrency = 2 * cores;
    const LoadTest::Result r = OrDie(LoadTest::Run(o));
    const double served = r.achieved_rate * batch;
    table.AddRow({absl::StrCat(batch), absl::StrFormat("%.0f", local),
                  absl::StrFormat("%.0f", served), absl::StrFormat("%.2f", served / local)});
  }
  Report("batching (IVF, 100k items): RankBatch throughput\n" + table.Render());
}

// An RPC server that does nothing: the ceiling of the transport.
class EmptyRanker final : public v1::RankerService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Rank(grpc::CallbackServerContext* ctx, const v1::RankRequest*,
                                 v1::RankResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// ---- the empty handler's ceiling, and P3 against h2load on it.
void Ceiling(bool ceiling, bool p3) {
  // The empty server runs as its own process (this program, --serve_empty),
  // like h2load's target and unlike a server sharing our pollers.
  auto server = OrDie(testing::Subprocess::Start(
      {"/proc/self/exe", "--serve_empty"}));
  const std::string address = OrDie(server->WaitForListeningAddress());
  LoadTest::Options o = Load(address, loadtest::Rpc::kRank, "empty");
  o.concurrency = 64;
  const LoadTest::Result max = OrDie(LoadTest::Run(o));
  o.concurrency = 1;
  o.connections = 1;
  const LoadTest::Result one = OrDie(LoadTest::Run(o));
  if (ceiling) {
    Report(absl::StrFormat(
        "ceiling  empty Rank handler: %.0f/s (64 in flight, 4 connections); p50 one at a "
        "time %.1f us",
        max.achieved_rate, Us(one.latency.Percentile(50))));
  }
  if (!p3) return;
  if (Shell("command -v h2load").empty()) {
    Report("P3 skipped: h2load not found (apt-get install nghttp2-client)");
    return;
  }
  // One pre-framed gRPC message: flag 0, 4-byte big-endian length, bytes.
  v1::RankRequest request;
  request.set_run_id("empty");
  request.set_slate_size(10);
  request.mutable_user()->set_user_id(1);
  const std::string body = request.SerializeAsString();
  std::string frame(5, '\0');
  for (int i = 0; i < 4; ++i)
    frame[1 + i] = static_cast<char>((body.size() >> (24 - 8 * i)) & 0xff);
  frame += body;
  const std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                       "/feedloop_h2load_", getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/request.bin", std::ios::binary) << frame;
  const std::string url =
      absl::StrCat("http://", address, "/feedloop.v1.RankerService/Rank");
  const std::string common = absl::StrCat(
      "h2load -H 'content-type: application/grpc' -H 'te: trailers' -d ", dir,
      "/request.bin --warm-up-time=1 -D ", static_cast<int>(absl::GetFlag(FLAGS_seconds)));
  const std::string many = Shell(absl::StrCat(common, " -c 4 -m 16 ", url, " 2>&1"));
  // "finished in 5.00s, 12345.60 req/s, 1.23MB/s"
  const size_t finished = many.find("finished in");
  const double h2_rate =
      finished == std::string::npos ? -1 : NumberAfter(many.substr(finished), "s, ");
  Shell(absl::StrCat(common, " -c 1 -m 1 --log-file=", dir, "/log.tsv ", url,
                     " > /dev/null 2>&1"));
  loadtest::Histogram h2_one;
  std::ifstream log(dir + "/log.tsv");
  for (std::string line; std::getline(log, line);) {
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    int64_t us = 0;
    if (cols.size() >= 3 && absl::SimpleAtoi(cols[2], &us)) h2_one.Record(us * 1000);
  }
  std::filesystem::remove_all(dir);
  if (h2_rate <= 0 || h2_one.count() == 0) {
    Report("P3 failed: could not read h2load's output:\n" + many);
    return;
  }
  Report(absl::StrFormat(
      "P3 max rate: feedloop-loadtest %.0f/s / h2load %.0f/s = %.2f (4 connections x 16 "
      "streams)  [target >= 0.9]",
      max.achieved_rate, h2_rate, max.achieved_rate / h2_rate));
  Report(absl::StrFormat(
      "P3 p50 one at a time: feedloop-loadtest %.1f us, h2load %.1f us (ratio %.2f)",
      Us(one.latency.Percentile(50)), Us(h2_one.Percentile(50)),
      static_cast<double>(one.latency.Percentile(50)) / h2_one.Percentile(50)));
}

// ---- P4: served Ingest against db_bench fillrandom.
void P4() {
  constexpr uint32_t kBatch = 1000;
  constexpr int kWriters = 4;
  auto s = StartServices(/*sync=*/true);
  loadtest::PrepareOptions p;
  p.store = s->store_address;
  p.run_id = "bench-ingest";
  p.items = 1;
  p.dim = kDim;
  if (absl::Status st = loadtest::PrepareRun(p); !st.ok()) Die(st);
  LoadTest::Options o = Load(s->store_address, loadtest::Rpc::kIngest, "bench-ingest");
  o.batch = kBatch;
  o.concurrency = kWriters;
  o.connections = kWriters;
  const LoadTest::Result r = OrDie(LoadTest::Run(o));
  const double ours = r.achieved_rate * kBatch;
  if (Shell("command -v db_bench").empty()) {
    Report(absl::StrFormat("P4 served Ingest %.0f items/s; db_bench not found "
                           "(apt-get install rocksdb-tools)", ours));
    return;
  }
  // The same shape: a serialized Item of d = 64 and its items-CF key; one
  // write batch of 1000 per request, synced, 4 writers. The store also
  // writes an id -> round entry per item (12 + 4 bytes), which db_bench
  // does not.
  v1::Item item;
  item.set_id(uint64_t{1} << 40);
  item.set_round(0);
  item.set_title("loadtest");
  for (uint32_t i = 0; i < kDim; ++i) item.add_embedding(0.125f);
  const size_t value_size = item.ByteSizeLong();
  const size_t key_size = 1 + std::string("bench-ingest").size() + 4 + 8;
  const std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                       "/feedloop_db_bench_", getpid());
  const std::string out = Shell(absl::StrFormat(
      "db_bench --benchmarks=fillrandom --db=%s --num=100000000 --duration=%d "
      "--value_size=%d --key_size=%d --batch_size=%d --sync=1 --threads=%d "
      "--compression_type=snappy --max_background_jobs=2 2>&1",
      dir, static_cast<int>(absl::GetFlag(FLAGS_seconds)), value_size, key_size, kBatch,
      kWriters));
  std::filesystem::remove_all(dir);
  const double theirs = NumberAfter(out, "micros/op ");
  if (theirs <= 0) {
    Report("P4 failed: could not read db_bench's output:\n" + out);
    return;
  }
  Report(absl::StrFormat(
      "P4 served Ingest %.0f items/s (%d-item batches, WAL synced, %d writers, "
      "%d errors) / "
      "db_bench fillrandom %.0f keys/s (value %d B, key %d B, same batches) = "
      "%.2f  "
      "[target >= 0.7]",
      ours, kBatch, kWriters,
      r.measured_requests - (r.codes.count("OK") ? r.codes.at("OK") : 0),
      theirs, value_size, key_size, ours / theirs));
}

}  // namespace
}  // namespace feedloop::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_serve_empty)) {
    feedloop::bench::EmptyRanker empty;
    auto server = feedloop::GrpcServer::Start({}, {&empty});
    if (!server.ok()) return 1;
    std::cout << "listening on " << (*server)->address() << std::endl;
    pause();  // until killed
    return 0;
  }
  const std::string only = absl::GetFlag(FLAGS_only);
  auto has = [&](const char* part) {
    for (absl::string_view p : absl::StrSplit(only, ',')) {
      if (p == part) return true;
    }
    return false;
  };
  using namespace feedloop::bench;
  if (has("p1") || has("overhead")) P1(has("p1"), has("overhead"));
  if (has("batching")) Batching();
  if (has("ceiling") || has("p3")) Ceiling(has("ceiling"), has("p3"));
  if (has("p4")) P4();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << "\n==== summary (peak RSS " << usage.ru_maxrss / 1024 << " MiB)\n";
  for (const auto& row : g_rows) std::cout << row << "\n";
  return 0;
}
