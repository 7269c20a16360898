// P2 and P5: one round of the loop at scale, through the real services on
// loopback, against the raw FAISS batched search of the same queries on
// the same kind of index; and the process's peak memory against the raw
// vector bytes.
//
//   ./dev bench loop                 (build/bench/loop_round_bench --help)
//
// Round 0 of an uncoupled run (alpha = 0) with `items` new items (all live)
// and `users` users, d = 64, the ORACLE ranker (so the queries are the
// users' true interests, which this program can rebuild to time the raw
// search with), index IVF by default. Prints the round's stages, then:
//   P2  serve stage / raw FAISS search of the same queries, and the whole
//       round / raw search, with the stages that make the difference
//   P5  peak RSS / (items x d x 4 bytes), and the overhead beyond 2x

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/thread_pool.h"
#include "config/config.h"
#include "config/cost.h"
#include "faiss/IndexFlat.h"
#include "faiss/IndexHNSW.h"
#include "faiss/IndexIVFFlat.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "loop/run_driver.h"
#include "loop/users.h"
#include "model/topic_space.h"
#include "ranker/item_pool.h"
#include "ranker/vector_index.h"
#include "rpc/server.h"
#include "stack/generator_server.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "store/store_client.h"

ABSL_FLAG(uint32_t, users, 100000, "simulated users");
ABSL_FLAG(uint32_t, items, 1000000, "new items in the round (all live)");
ABSL_FLAG(std::string, index, "IVF", "the ranker's index: FLAT, IVF or HNSW");
ABSL_FLAG(bool, sync, false, "sync the store's WAL on every write");
ABSL_FLAG(std::string, config, "",
          "an experiment config to play round 0 of instead of the flags' (users, items, "
          "index, dim from it; e.g. configs/scale.pbtxt); its ranker must be ORACLE for "
          "the raw comparison");
ABSL_FLAG(bool, raw, true,
          "also time raw FAISS on the same queries (P2); off leaves the loop alone in a "
          "heap profile");

namespace feedloop::bench {
namespace {

[[noreturn]] void Die(const absl::Status& s) {
  std::cerr << "loop_round_bench: " << s << "\n";
  std::exit(1);
}
template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) Die(v.status());
  return *std::move(v);
}

// Samples the process's resident set every 20 ms from construction to
// Stop(), so that the peak can be put down to the stage it happened in.
class RssSampler {
 public:
  RssSampler() : thread_([this] { Loop(); }) {}
  ~RssSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // The highest sample in [from, to), in MiB (0 when none fell there).
  double PeakMiB(absl::Time from, absl::Time to) const {
    double peak = 0;
    for (const auto& [t, mib] : samples_) {
      if (t >= from && t < to) peak = std::max(peak, mib);
    }
    return peak;
  }

 private:
  void Loop() {
    const long page = sysconf(_SC_PAGESIZE);
    while (!stop_) {
      std::ifstream statm("/proc/self/statm");
      long size = 0, resident = 0;
      statm >> size >> resident;
      samples_.emplace_back(absl::Now(), static_cast<double>(resident) * page / (1 << 20));
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  std::atomic<bool> stop_{false};
  std::vector<std::pair<absl::Time, double>> samples_;
  std::thread thread_;
};

// Prints how far the round is: a line when a stage starts or ends and at
// most every 5 s in between, with the stage's ETA from its rate so far;
// and, while a stage reports nothing (the index is one call), a line every
// 30 s with the time it has taken.
class ProgressPrinter {
 public:
  ProgressPrinter() : thread_([this] { Heartbeat(); }) {}
  ~ProgressPrinter() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  void Update(const loop::RunDriver::RoundProgress& p) {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    const bool started = p.stage != stage_;
    if (started) {
      stage_ = std::string(p.stage);
      stage_start_ = now;
    }
    const bool finished = p.done == p.total;
    if (!started && !finished && now - printed_ < absl::Seconds(5)) return;
    const double elapsed = absl::ToDoubleSeconds(now - stage_start_);
    std::string eta;
    if (finished) {
      eta = "done";
    } else if (p.done > 0 && elapsed >= 1) {
      eta = absl::StrFormat("ETA %.0f s", elapsed * static_cast<double>(p.total - p.done) /
                                              static_cast<double>(p.done));
    } else {
      eta = p.done > 0 ? "ETA after 1 s" : "started";
    }
    std::cerr << absl::StrFormat("  round %d %-7s %d / %d (%.0f%%), %.0f s, %s\n", p.round,
                                 stage_, p.done, p.total,
                                 p.total > 0 ? 100.0 * p.done / p.total : 100.0, elapsed,
                                 eta);
    printed_ = now;
  }

 private:
  void Heartbeat() {
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(30))) {
      if (stage_.empty() || absl::Now() - printed_ < absl::Seconds(30)) continue;
      std::cerr << absl::StrFormat("  ... %s, %.0f s so far\n", stage_,
                                   absl::ToDoubleSeconds(absl::Now() - stage_start_));
      printed_ = absl::Now();
    }
  }
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::string stage_ ABSL_GUARDED_BY(mu_);
  absl::Time stage_start_ ABSL_GUARDED_BY(mu_);
  absl::Time printed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread thread_;
};

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

v1::ExperimentConfig Config() {
  if (const std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    v1::ExperimentConfig c = OrDie(config::LoadConfigFile(path));
    c.set_rounds(1);  // the benchmark's round is round 0
    c.clear_sweep();
    if (absl::GetFlag(FLAGS_raw) && c.ranker().variant() != v1::RankerConfig::ORACLE) {
      Die(absl::InvalidArgumentError(absl::StrCat(
          path, ": ranker.variant must be ORACLE to time raw FAISS on the same queries "
                "(the users' true interests); or pass --raw=false")));
    }
    if (absl::Status s = config::ValidateConfig(c); !s.ok()) Die(s);
    return c;
  }
  const uint32_t items = absl::GetFlag(FLAGS_items);
  v1::ExperimentConfig c;
  c.set_name("loop-round-bench");
  c.set_seed(1);
  c.set_rounds(1);
  c.mutable_space()->set_dim(64);
  c.mutable_space()->set_topics(32);
  c.mutable_users()->set_count(absl::GetFlag(FLAGS_users));
  c.mutable_creators()->set_count(1000);
  c.mutable_creators()->set_items_per_round((items + 999) / 1000);
  c.mutable_generator()->set_alpha(0);
  c.mutable_generator()->set_max_items_per_round(items);
  v1::RankerConfig::IndexType index;
  if (!v1::RankerConfig::IndexType_Parse(absl::GetFlag(FLAGS_index), &index)) {
    Die(absl::InvalidArgumentError("index: must be FLAT, IVF or HNSW"));
  }
  c.mutable_ranker()->set_index(index);
  c.mutable_ranker()->set_variant(v1::RankerConfig::ORACLE);
  if (absl::Status s = config::ValidateConfig(c); !s.ok()) Die(s);
  return c;
}

// The raw FAISS index the ranker builds for `c`, over `vectors`, searched
// with `queries` in one batch for the ranker's candidate count. Seconds.
double RawSearchSeconds(const v1::ExperimentConfig& c, const std::vector<float>& vectors,
                        const std::vector<float>& queries) {
  const int dim = static_cast<int>(c.space().dim());
  const auto& r = c.ranker();
  std::unique_ptr<faiss::Index> index;
  if (r.index() == v1::RankerConfig::FLAT) {
    index = std::make_unique<faiss::IndexFlatIP>(dim);
  } else if (r.index() == v1::RankerConfig::IVF) {
    // The lists and probes the ranker's index picks for these items (by
    // size and calibrated, unless the config fixes them), learned from an
    // index built the same way and dropped before the raw one is built.
    ranker::VectorIndex::IvfShape shape;
    {
      auto options = ranker::IndexOptionsFor(c, 0);
      auto same = OrDie(ranker::VectorIndex::Create(options));
      std::vector<uint64_t> ids(vectors.size() / dim);
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = i + 1;
      if (absl::Status s = same->Add(ids, vectors); !s.ok()) Die(s);
      shape = same->ivf_shape();
    }
    std::cout << "raw IVF: " << shape.nlist << " lists, nprobe " << shape.nprobe
              << " (calibrated recall@" << r.candidates() << " " << shape.recall << ")\n";
    auto* quantizer = new faiss::IndexFlatIP(dim);
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, dim, shape.nlist,
                                                     faiss::METRIC_INNER_PRODUCT);
    ivf->own_fields = true;
    ivf->nprobe = shape.nprobe;
    ivf->train(static_cast<faiss::Index::idx_t>(
                   std::min<size_t>(vectors.size() / dim, 39 * size_t{shape.nlist})),
               vectors.data());
    index = std::move(ivf);
  } else {
    auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(dim, r.hnsw_m(), faiss::METRIC_L2);
    hnsw->hnsw.efConstruction = static_cast<int>(r.hnsw_ef_construction());
    hnsw->hnsw.efSearch = static_cast<int>(r.hnsw_ef_search());
    index = std::move(hnsw);
  }
  index->add(static_cast<faiss::Index::idx_t>(vectors.size() / dim), vectors.data());
  const faiss::Index::idx_t n = static_cast<faiss::Index::idx_t>(queries.size() / dim);
  const faiss::Index::idx_t k = r.candidates();
  std::vector<float> distances(n * k);
  std::vector<faiss::Index::idx_t> labels(n * k);
  const absl::Time start = absl::Now();
  index->search(n, queries.data(), k, distances.data(), labels.data());
  return absl::ToDoubleSeconds(absl::Now() - start);
}

void Main() {
  const v1::ExperimentConfig config = Config();
  const std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                       "/feedloop_loop_bench_", getpid());
  std::filesystem::remove_all(dir);
  const double rss_start = PeakRssMiB();

  stack::StoreServer::Options so;
  so.data_dir = dir;
  so.sync = absl::GetFlag(FLAGS_sync);
  auto store_server = OrDie(stack::StoreServer::Start(so));
  stack::RankerServer::Options ro;
  ro.store_address = store_server->address();
  auto ranker_server = OrDie(stack::RankerServer::Start(ro));
  stack::GeneratorServer::Options go;
  go.ranker_address = ranker_server->address();
  go.store_address = store_server->address();  // as the stack wires it
  auto generator_server = OrDie(stack::GeneratorServer::Start(go));

  store::StoreClient store(CreateChannel(store_server->address()));
  auto ranker_stub = v1::RankerService::NewStub(CreateChannel(ranker_server->address()));
  auto generator_stub =
      v1::GeneratorService::NewStub(CreateChannel(generator_server->address()));
  ThreadPool pool(DefaultThreadCount(), 0);

  v1::RunRecord run;
  run.set_run_id("loop-round-bench");
  *run.mutable_config() = config;
  run = OrDie(store.CreateRun(run));

  loop::RunDriver::Options options;
  options.pool = &pool;
  options.call_deadline = absl::Minutes(30);
  loop::StageTimes times;
  options.on_stage_times = [&](uint32_t, const loop::StageTimes& t) { times = t; };
  auto progress = std::make_unique<ProgressPrinter>();
  options.on_progress = [&](const loop::RunDriver::RoundProgress& p) { progress->Update(p); };
  loop::RunDriver driver({&store, ranker_stub.get(), generator_stub.get()}, options);
  std::cerr << "playing one round: " << config.users().count() << " users, "
            << config::ItemsInRound(config, 0) << " items, " << v1::RankerConfig::IndexType_Name(config.ranker().index())
            << " ...\n";
  auto sampler = std::make_unique<RssSampler>();
  const absl::Time round_start = absl::Now();
  if (absl::Status s = driver.Run(run, nullptr, nullptr); !s.ok()) Die(s);
  const double rss_loop = PeakRssMiB();
  sampler->Stop();
  progress.reset();

  // The same queries (true interests) and the same items, for raw FAISS.
  const model::TopicSpace space = model::TopicSpace::FromConfig(config);
  loop::Users users(config, space);
  std::vector<float> queries;
  for (uint32_t u = 0; u < config.users().count(); ++u) {
    auto p = users.Interest(u);
    queries.insert(queries.end(), p.begin(), p.end());
  }
  std::vector<float> vectors;
  const bool with_raw = absl::GetFlag(FLAGS_raw);
  if (absl::Status s = !with_raw ? absl::OkStatus() : store.ScanItems(run.run_id(), 0, std::nullopt,
                                       [&](std::vector<v1::Item> chunk) {
                                         for (const auto& item : chunk) {
                                           vectors.insert(vectors.end(),
                                                          item.embedding().begin(),
                                                          item.embedding().end());
                                         }
                                         return absl::OkStatus();
                                       });
      !s.ok()) {
    Die(s);
  }
  generator_server.reset();
  ranker_server.reset();
  store_server.reset();
  std::filesystem::remove_all(dir);
  const size_t n_items = with_raw ? vectors.size() / config.space().dim()
                                  : config::ItemsInRound(config, 0);
  if (with_raw) std::cerr << "raw FAISS over the same " << n_items << " items ...\n";
  const double raw = with_raw ? RawSearchSeconds(config, vectors, queries) : NAN;

  const auto s = [](absl::Duration d) { return absl::ToDoubleSeconds(d); };
  const double total = s(times.total());
  std::cout << absl::StrFormat(
      "round 0: %d users, %d live items, d = %d, %s, %s\n", config.users().count(),
      n_items, config.space().dim(),
      v1::RankerConfig::IndexType_Name(config.ranker().index()),
      v1::RankerConfig::Variant_Name(config.ranker().variant()));
  std::cout << "  stage       time   share  peak RSS in the stage\n";
  absl::Time from = round_start;
  for (auto [name, d] : {std::pair{"generate", times.generate}, {"ingest", times.ingest},
                         {"index", times.index}, {"serve", times.serve},
                         {"consume", times.consume}, {"feedback", times.feedback},
                         {"measure", times.measure}}) {
    std::cout << absl::StrFormat("  %-9s %8.2f s  %5.1f%%  %6.0f MiB\n", name, s(d),
                                 100 * s(d) / total, sampler->PeakMiB(from, from + d));
    from += d;
  }
  std::cout << absl::StrFormat("  %-9s %8.2f s\n", "total", total);
  std::cout << absl::StrFormat("  raw FAISS search of the same %d queries: %.2f s\n",
                               config.users().count(), raw);
  std::cout << absl::StrFormat(
      "P2 serve stage / raw search = %.2f; whole round / raw search = %.2f; round "
      "without generate, ingest and index / raw search = %.2f  [target <= 1.5]\n",
      s(times.serve) / raw, total / raw,
      (s(times.serve) + s(times.consume) + s(times.feedback) + s(times.measure)) / raw);
  const double raw_mib = static_cast<double>(n_items) * config.space().dim() * 4 / (1 << 20);
  std::cout << absl::StrFormat(
      "P5 peak RSS during the loop %.0f MiB (%.0f MiB at start) / raw vectors %.0f MiB = "
      "%.2f; beyond 2x: %.0f MiB  [target <= 2x + a stated fixed overhead]\n",
      rss_loop, rss_start, raw_mib, rss_loop / raw_mib, rss_loop - 2 * raw_mib);
}

}  // namespace
}  // namespace feedloop::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  feedloop::bench::Main();
  return 0;
}
