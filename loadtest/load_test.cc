#include "loadtest/load_test.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "feedloop/v1/ingest.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"

namespace feedloop::loadtest {
namespace {

constexpr uint64_t kRequestStream = 0x10ad7e57;
constexpr absl::Duration kConnectTimeout = absl::Seconds(5);

struct RpcInfo {
  Rpc rpc;
  const char* name;
};
constexpr RpcInfo kRpcs[] = {{Rpc::kRank, "Rank"},
                             {Rpc::kRankBatch, "RankBatch"},
                             {Rpc::kRetrieve, "Retrieve"},
                             {Rpc::kScoreItems, "ScoreItems"},
                             {Rpc::kIngest, "Ingest"}};

// Request contents from (seed, sequence number).
class Workload {
 public:
  explicit Workload(const LoadTest::Options& o)
      : o_(o), id_base_(static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())) << 32) {
    if (o.zipf_s > 0) {
      cdf_.resize(o.users);
      double sum = 0;
      for (uint32_t i = 0; i < o.users; ++i) {
        sum += std::pow(static_cast<double>(i) + 1, -o.zipf_s);
        cdf_[i] = sum;
      }
      for (double& c : cdf_) c /= sum;
    }
  }

  uint32_t UserId(Rng& rng) const {
    if (cdf_.empty()) return static_cast<uint32_t>(rng.UniformInt(o_.users));
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), rng.Uniform());
    return static_cast<uint32_t>(std::min<size_t>(it - cdf_.begin(), o_.users - 1));
  }

  template <typename Field>
  void UnitVectors(Rng& rng, uint32_t rows, Field* out) const {
    std::vector<float> v(o_.dim);
    for (uint32_t r = 0; r < rows; ++r) {
      double norm = 0;
      for (float& x : v) {
        x = static_cast<float>(rng.Normal());
        norm += static_cast<double>(x) * x;
      }
      const float scale = static_cast<float>(1 / std::sqrt(norm));
      for (float x : v) out->Add(x * scale);
    }
  }

  void Fill(uint64_t seq, v1::RankRequest* r) const {
    Rng rng(DeriveSeed(o_.seed, kRequestStream, seq));
    r->set_run_id(o_.run_id);
    r->set_slate_size(o_.slate_size);
    r->mutable_user()->set_user_id(UserId(rng));
  }
  void Fill(uint64_t seq, v1::RankBatchRequest* r) const {
    Rng rng(DeriveSeed(o_.seed, kRequestStream, seq));
    r->set_run_id(o_.run_id);
    r->set_slate_size(o_.slate_size);
    for (uint32_t i = 0; i < o_.batch; ++i) r->add_users()->set_user_id(UserId(rng));
  }
  void Fill(uint64_t seq, v1::RetrieveRequest* r) const {
    Rng rng(DeriveSeed(o_.seed, kRequestStream, seq));
    r->set_run_id(o_.run_id);
    r->set_k(o_.k);
    r->set_dim(o_.dim);
    UnitVectors(rng, o_.batch, r->mutable_queries());
  }
  void Fill(uint64_t seq, v1::ScoreItemsRequest* r) const {
    Rng rng(DeriveSeed(o_.seed, kRequestStream, seq));
    r->set_run_id(o_.run_id);
    r->set_sample_users(64);
    r->set_seed(seq);
    r->set_dim(o_.dim);
    UnitVectors(rng, o_.batch, r->mutable_candidates());
  }
  void Fill(uint64_t seq, v1::IngestRequest* r) const {
    Rng rng(DeriveSeed(o_.seed, kRequestStream, seq));
    r->set_run_id(o_.run_id);
    for (uint32_t i = 0; i < o_.batch; ++i) {
      v1::Item* item = r->add_items();
      // Ids unique across invocations: the start second, then the sequence.
      item->set_id(id_base_ + seq * o_.batch + i + 1);
      item->set_round(o_.round);
      item->set_title("loadtest");
      UnitVectors(rng, 1, item->mutable_embedding());
    }
  }

 private:
  const LoadTest::Options& o_;
  const uint64_t id_base_;
  std::vector<double> cdf_;  // Zipf only
};

// One outstanding call: the tag its completion arrives with.
struct Call {
  virtual ~Call() = default;
  grpc::ClientContext ctx;
  grpc::Status status;
  absl::Time start;  // latency runs from here (due or sent)
  bool measured = false;
};

// Starts calls of one RPC on a completion queue.
class Caller {
 public:
  virtual ~Caller() = default;
  // Starts call `seq` on channel seq % channels; its completion arrives on
  // `cq` with the Call as tag, which the poller then owns. Its latency will
  // run from `start`.
  virtual void Start(uint64_t seq, absl::Time deadline, absl::Time start, bool measured,
                     grpc::CompletionQueue* cq) = 0;
};

template <typename Service, typename Req, typename Resp>
class TypedCaller final : public Caller {
 public:
  using Method = std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> (
      Service::Stub::*)(grpc::ClientContext*, const Req&, grpc::CompletionQueue*);

  TypedCaller(const std::vector<std::shared_ptr<grpc::Channel>>& channels, Method method,
              const Workload* workload)
      : method_(method), workload_(workload) {
    for (const auto& c : channels) stubs_.push_back(Service::NewStub(c));
  }

  void Start(uint64_t seq, absl::Time deadline, absl::Time start, bool measured,
             grpc::CompletionQueue* cq) override {
    struct TypedCall final : Call {
      Req request;
      Resp response;
      std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader;
    };
    auto* call = new TypedCall;
    call->start = start;
    call->measured = measured;
    workload_->Fill(seq, &call->request);
    call->ctx.set_deadline(absl::ToChronoTime(deadline));
    auto* stub = stubs_[seq % stubs_.size()].get();
    call->reader = (stub->*method_)(&call->ctx, call->request, cq);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  }

 private:
  const Method method_;
  const Workload* workload_;
  std::vector<std::unique_ptr<typename Service::Stub>> stubs_;
};

template <typename Service, typename Req, typename Resp>
std::unique_ptr<Caller> Make(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                             typename TypedCaller<Service, Req, Resp>::Method method,
                             const Workload* workload) {
  return std::make_unique<TypedCaller<Service, Req, Resp>>(channels, method, workload);
}

std::unique_ptr<Caller> MakeCaller(Rpc rpc,
                                   const std::vector<std::shared_ptr<grpc::Channel>>& ch,
                                   const Workload* w) {
  using R = v1::RankerService;
  switch (rpc) {
    case Rpc::kRank:
      return Make<R, v1::RankRequest, v1::RankResponse>(ch, &R::Stub::PrepareAsyncRank, w);
    case Rpc::kRankBatch:
      return Make<R, v1::RankBatchRequest, v1::RankBatchResponse>(
          ch, &R::Stub::PrepareAsyncRankBatch, w);
    case Rpc::kRetrieve:
      return Make<R, v1::RetrieveRequest, v1::RetrieveResponse>(
          ch, &R::Stub::PrepareAsyncRetrieve, w);
    case Rpc::kScoreItems:
      return Make<R, v1::ScoreItemsRequest, v1::ScoreItemsResponse>(
          ch, &R::Stub::PrepareAsyncScoreItems, w);
    case Rpc::kIngest:
      return Make<v1::IngestService, v1::IngestRequest, v1::IngestResponse>(
          ch, &v1::IngestService::Stub::PrepareAsyncIngest, w);
  }
  return nullptr;
}

// One call, waited for on a queue of its own: the probe before the load.
grpc::Status CallAndWait(Caller* caller, uint64_t seq, absl::Time deadline) {
  grpc::CompletionQueue cq;
  caller->Start(seq, deadline, absl::Now(), false, &cq);
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  std::unique_ptr<Call> call(static_cast<Call*>(tag));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return call->status;
}

// A client thread. It owns a completion queue that it alone polls, so a
// completion is handled on the thread that read it from the socket: no hop
// to a callback thread, and its counts need no lock (each worker keeps its
// own shard, merged at the end).
//
// Closed loop: the worker also sends, one call from each completion, and
// takes sequence numbers w + 1, w + 1 + n, ... (worker w of n).
// Open loop: a pacer thread sends at the due times onto the workers'
// queues in turn (a queue's own wait cannot time a send: gRPC's poller
// wakes at millisecond granularity, which would make every send late).
class Worker {
 public:
  struct Plan {
    const LoadTest::Options* options;
    Caller* caller;
    int index;
    int workers;
    absl::Time window_start;  // measured from here
    absl::Time end;           // nothing is sent from here on
    // Open loop: calls outstanding over all workers.
    std::atomic<int>* inflight;
  };

  explicit Worker(const Plan& plan) : p_(plan), o_(*plan.options) {}

  // Closed loop: `slots` calls in flight until the end, then drains.
  void RunClosed(int slots) {
    int inflight = 0;
    auto send = [&](uint64_t k) {
      const absl::Time sent = absl::Now();
      const uint64_t seq =
          1 + static_cast<uint64_t>(p_.index) + k * static_cast<uint64_t>(p_.workers);
      p_.caller->Start(seq, sent + o_.deadline, sent, sent >= p_.window_start, &cq_);
      ++inflight;
    };
    uint64_t sent = 0;
    for (int i = 0; i < slots; ++i) send(sent++);
    void* tag = nullptr;
    bool ok = false;
    while (inflight > 0 && cq_.Next(&tag, &ok)) {
      Complete(static_cast<Call*>(tag));
      --inflight;
      if (absl::Now() < p_.end) send(sent++);
    }
    Drain();
  }

  // Open loop: handles completions until the pacer shuts the queue down.
  void Poll() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      Complete(static_cast<Call*>(tag));
      p_.inflight->fetch_sub(1, std::memory_order_release);
    }
  }

  // Open loop, from the pacer: call `seq`, due at `due`.
  void Send(uint64_t seq, absl::Time sent, absl::Time due, bool measured) {
    p_.inflight->fetch_add(1, std::memory_order_relaxed);
    p_.caller->Start(seq, sent + o_.deadline, due, measured, &cq_);
  }
  // Open loop, from the pacer once it has sent the last call: Poll returns
  // when the calls outstanding on this queue have completed.
  void ShutdownQueue() { cq_.Shutdown(); }

  LoadTest::Result& shard() { return shard_; }
  absl::Time last_measured_done() const { return last_measured_done_; }

 private:
  void Complete(Call* raw) {
    std::unique_ptr<Call> call(raw);
    const absl::Time now = absl::Now();
    if (!call->measured) {
      ++shard_.warmup_requests;
      return;
    }
    ++shard_.measured_requests;
    shard_.latency.Record(absl::ToInt64Nanoseconds(now - call->start));
    // gRPC's codes are absl's, one to one.
    const grpc::Status& s = call->status;
    const std::string code =
        absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code()));
    ++shard_.codes[code];
    if (!s.ok()) shard_.first_errors.try_emplace(code, s.error_message());
    last_measured_done_ = std::max(last_measured_done_, now);
  }
  void Drain() {
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) delete static_cast<Call*>(tag);
  }

  const Plan p_;
  const LoadTest::Options& o_;
  grpc::CompletionQueue cq_;
  LoadTest::Result shard_;
  absl::Time last_measured_done_ = absl::InfinitePast();
};

void SleepUntil(absl::Time t) {
  const absl::Duration left = t - absl::Now();
  if (left > absl::ZeroDuration()) absl::SleepFor(left);
}

// Options::threads, 0 resolved: one per core, at most one per connection.
int ThreadsOf(const LoadTest::Options& o) {
  if (o.threads > 0) return o.threads;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::min(cores, o.connections);
}

}  // namespace

absl::StatusOr<Rpc> ParseRpc(const std::string& name) {
  std::vector<std::string> names;
  for (const RpcInfo& r : kRpcs) {
    if (name == r.name) return r.rpc;
    names.push_back(r.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "rpc: unknown RPC '", name, "'; choose one of ", absl::StrJoin(names, ", ")));
}

const char* RpcName(Rpc rpc) {
  for (const RpcInfo& r : kRpcs) {
    if (r.rpc == rpc) return r.name;
  }
  return "?";
}

double LoadTest::Result::error_rate() const {
  if (measured_requests == 0) return 0;
  auto ok = codes.find("OK");
  const uint64_t good = ok == codes.end() ? 0 : ok->second;
  return static_cast<double>(measured_requests - good) /
         static_cast<double>(measured_requests);
}

absl::Status LoadTest::Validate(const Options& o) {
  auto bad = [](auto... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (o.target.empty()) return bad("target: name the server, HOST:PORT");
  if (o.run_id.empty()) return bad("run: name the run the requests are for");
  if (!(o.rate >= 0) || !std::isfinite(o.rate) || o.rate > 1e6) {
    return bad("rate: must be in [0, 1000000] requests/s (0: closed loop), got ", o.rate);
  }
  if (o.rate == 0 && (o.concurrency < 1 || o.concurrency > 10000)) {
    return bad("concurrency: must be in [1, 10000], got ", o.concurrency);
  }
  if (o.max_inflight < 1 || o.max_inflight > 1000000) {
    return bad("max_inflight: must be in [1, 1000000], got ", o.max_inflight);
  }
  if (o.connections < 1 || o.connections > 256) {
    return bad("connections: must be in [1, 256], got ", o.connections);
  }
  if (o.threads < 0 || o.threads > 256) {
    return bad("threads: must be in [0, 256] (0: one per core, at most one per "
               "connection), got ", o.threads);
  }
  if (o.warmup < absl::ZeroDuration()) return bad("warmup: must not be negative");
  if (o.duration <= absl::ZeroDuration() || o.duration > absl::Hours(24)) {
    return bad("duration: must be in (0, 24h], got ", absl::FormatDuration(o.duration));
  }
  if (o.deadline <= absl::ZeroDuration() || o.deadline > absl::Seconds(60)) {
    return bad("deadline: must be in (0, 60s], got ", absl::FormatDuration(o.deadline));
  }
  if (o.users < 1) return bad("users: must be at least 1");
  if (o.users > 10000000) return bad("users: at most 10000000, got ", o.users);
  if (!(o.zipf_s >= 0) || o.zipf_s > 10) {
    return bad("zipf_s: must be in [0, 10] (0: uniform), got ", o.zipf_s);
  }
  if (o.batch < 1 || o.batch > 100000) {
    return bad("batch: must be in [1, 100000], got ", o.batch);
  }
  if (o.dim < 1 || o.dim > 4096) return bad("dim: must be in [1, 4096], got ", o.dim);
  if (o.rate > 0 && o.rate * absl::ToDoubleSeconds(o.warmup + o.duration) > 1e9) {
    return bad("rate x (warmup + duration): more than a billion requests");
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadTest::Result> LoadTest::Run(const Options& o) {
  FEEDLOOP_RETURN_IF_ERROR(Validate(o));
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < o.connections; ++i) {
    grpc::ChannelArguments args;
    // Its own subchannel, so each channel is its own TCP connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    auto channel =
        grpc::CreateCustomChannel(o.target, o.transport.ChannelCredentials(), args);
    // Connected, refused (fail at once) or silent (fail after the timeout).
    const auto deadline = absl::ToChronoTime(absl::Now() + kConnectTimeout);
    for (grpc_connectivity_state state = channel->GetState(true);
         state != GRPC_CHANNEL_READY; state = channel->GetState(true)) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
        return absl::UnavailableError(
            absl::StrCat("target: cannot connect to ", o.target, " (refused or unreachable)"));
      }
      if (!channel->WaitForStateChange(state, deadline)) {
        return absl::UnavailableError(absl::StrCat(
            "target: nothing answers at ", o.target, " (waited ",
            absl::FormatDuration(kConnectTimeout), ")"));
      }
    }
    channels.push_back(std::move(channel));
  }
  Workload workload(o);
  std::unique_ptr<Caller> caller = MakeCaller(o.rpc, channels, &workload);

  // One call first: a wrong service, run or dimension stops here, with the
  // server's own words, instead of as a million identical errors.
  const grpc::Status probe = CallAndWait(caller.get(), 0, absl::Now() + o.deadline);
  if (!probe.ok() && probe.error_code() != grpc::DEADLINE_EXCEEDED &&
      probe.error_code() != grpc::RESOURCE_EXHAUSTED) {
    return absl::Status(
        static_cast<absl::StatusCode>(probe.error_code()),
        absl::StrCat("the first ", RpcName(o.rpc), " to ", o.target,
                     " failed: ", probe.error_message()));
  }

  // No more threads than calls can be outstanding: each needs one.
  const int workers = std::min(ThreadsOf(o), o.rate > 0 ? o.max_inflight : o.concurrency);
  const absl::Time start = absl::Now();
  std::atomic<int> inflight{0};
  Worker::Plan plan{&o,     caller.get(), 0, workers, start + o.warmup,
                    start + o.warmup + o.duration, &inflight};
  std::vector<std::unique_ptr<Worker>> pool;
  for (int w = 0; w < workers; ++w) {
    plan.index = w;
    pool.push_back(std::make_unique<Worker>(plan));
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      if (o.rate > 0) {
        pool[w]->Poll();
      } else {
        // An even split of the slots, the first workers taking the rest.
        pool[w]->RunClosed(o.concurrency / workers + (w < o.concurrency % workers));
      }
    });
  }
  uint64_t late_sends = 0;
  if (o.rate > 0) {
    // The pacer: call k (sequence number k + 1) is due at the k-th arrival
    // and goes to worker k mod n.
    Rng gaps(DeriveSeed(o.seed, kRequestStream, ~uint64_t{0}));
    const double interval_s = 1.0 / o.rate;
    absl::Time due = start;
    for (uint64_t k = 0; due < plan.end; ++k) {
      SleepUntil(due);
      // Past max_inflight a due call waits for a slot, and the wait counts.
      while (inflight.load(std::memory_order_acquire) >= o.max_inflight) {
        absl::SleepFor(absl::Microseconds(20));
      }
      const absl::Time sent = absl::Now();
      const bool measured = due >= plan.window_start;
      if (measured && sent - due > absl::Milliseconds(1)) ++late_sends;
      pool[k % workers]->Send(k + 1, sent, due, measured);
      const double gap = o.arrival == Arrival::kPoisson
                             ? -std::log(1 - gaps.Uniform()) * interval_s
                             : interval_s;
      due += absl::Seconds(gap);
    }
    for (auto& worker : pool) worker->ShutdownQueue();
  }
  // Every call has a deadline, so each worker drains and returns.
  for (std::thread& t : threads) t.join();

  Result total;
  absl::Time last_measured_done = absl::InfinitePast();
  for (const auto& worker : pool) {
    Result& r = worker->shard();
    total.latency.Merge(r.latency);
    for (const auto& [code, n] : r.codes) total.codes[code] += n;
    for (const auto& [code, message] : r.first_errors) total.first_errors.try_emplace(code, message);
    total.warmup_requests += r.warmup_requests;
    total.measured_requests += r.measured_requests;
    last_measured_done = std::max(last_measured_done, worker->last_measured_done());
  }
  // The window, or longer when the last measured call ended after it.
  const absl::Duration span = std::max(o.duration, last_measured_done - plan.window_start);
  total.late_sends = late_sends;
  total.achieved_rate =
      static_cast<double>(total.measured_requests) / absl::ToDoubleSeconds(span);
  return total;
}

std::string FormatSummary(const LoadTest::Options& o, const LoadTest::Result& r) {
  std::string out;
  const auto us = [](int64_t ns) { return absl::StrFormat("%.1f", ns / 1e3); };
  absl::StrAppendFormat(
      &out, "%s to %s, %s, %d connection%s, %s measured after %s of warm-up\n",
      RpcName(o.rpc), o.target,
      o.rate > 0 ? absl::StrFormat("open loop at %.0f/s (%s)", o.rate,
                                   o.arrival == Arrival::kPoisson ? "Poisson" : "constant")
                 : absl::StrFormat("closed loop, %d in flight", o.concurrency),
      o.connections, o.connections == 1 ? "" : "s", absl::FormatDuration(o.duration),
      absl::FormatDuration(o.warmup));
  absl::StrAppendFormat(&out, "  requests   %d measured (%d in warm-up)\n",
                        r.measured_requests, r.warmup_requests);
  absl::StrAppendFormat(&out, "  rate       %.1f/s achieved", r.achieved_rate);
  if (o.rate > 0) absl::StrAppendFormat(&out, " of %.1f/s asked", o.rate);
  out += "\n";
  absl::StrAppendFormat(&out,
                        "  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s (us)\n",
                        us(r.latency.Percentile(50)), us(r.latency.Percentile(90)),
                        us(r.latency.Percentile(99)), us(r.latency.Percentile(99.9)),
                        us(r.latency.max()), us(static_cast<int64_t>(r.latency.mean())));
  if (o.rate > 0) {
    out += "             (from each request's due time: stalls are counted in full)\n";
  }
  std::vector<std::string> codes;
  for (const auto& [code, n] : r.codes) codes.push_back(absl::StrCat(code, " ", n));
  absl::StrAppend(&out, "  status     ", absl::StrJoin(codes, ", "), "\n");
  for (const auto& [code, message] : r.first_errors) {
    absl::StrAppend(&out, "  first ", code, ": ", message, "\n");
  }
  if (r.late_sends > 0) {
    absl::StrAppendFormat(&out,
                          "  warning    %d requests left more than 1 ms after they were "
                          "due: the load generator or --max_inflight held them\n",
                          r.late_sends);
  }
  return out;
}

std::string ToJson(const LoadTest::Options& o, const LoadTest::Result& r) {
  const auto us = [](int64_t ns) { return absl::StrFormat("%.3f", ns / 1e3); };
  std::vector<std::string> codes;
  for (const auto& [code, n] : r.codes) codes.push_back(absl::StrCat("\"", code, "\": ", n));
  return absl::StrCat(
      "{\n  \"rpc\": \"", RpcName(o.rpc), "\",\n  \"target\": \"", o.target,
      "\",\n  \"mode\": \"", o.rate > 0 ? "open" : "closed", "\",\n",
      "  \"rate_asked\": ", o.rate, ",\n  \"concurrency\": ", o.concurrency,
      ",\n  \"connections\": ", o.connections,
      ",\n  \"warmup_s\": ", absl::ToDoubleSeconds(o.warmup),
      ",\n  \"duration_s\": ", absl::ToDoubleSeconds(o.duration),
      ",\n  \"requests\": ", r.measured_requests,
      ",\n  \"warmup_requests\": ", r.warmup_requests,
      ",\n  \"achieved_rate\": ", absl::StrFormat("%.3f", r.achieved_rate),
      ",\n  \"error_rate\": ", absl::StrFormat("%.6f", r.error_rate()),
      ",\n  \"late_sends\": ", r.late_sends,
      ",\n  \"latency_us\": {\"p50\": ", us(r.latency.Percentile(50)),
      ", \"p90\": ", us(r.latency.Percentile(90)), ", \"p99\": ", us(r.latency.Percentile(99)),
      ", \"p999\": ", us(r.latency.Percentile(99.9)), ", \"max\": ", us(r.latency.max()),
      ", \"min\": ", us(r.latency.min()),
      ", \"mean\": ", us(static_cast<int64_t>(r.latency.mean())), "},\n  \"codes\": {",
      absl::StrJoin(codes, ", "), "}\n}\n");
}

std::string ToCsv(const LoadTest::Result& r) {
  std::string out = "low_us,high_us,count,cumulative_fraction\n";
  uint64_t seen = 0;
  for (const Histogram::Bucket& b : r.latency.Buckets()) {
    seen += b.count;
    absl::StrAppendFormat(&out, "%.3f,%.3f,%d,%.6f\n", b.low / 1e3, b.high / 1e3, b.count,
                          static_cast<double>(seen) / static_cast<double>(r.latency.count()));
  }
  return out;
}

}  // namespace feedloop::loadtest
