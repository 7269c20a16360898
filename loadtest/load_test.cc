#include "loadtest/load_test.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
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

// Starts calls of one RPC, round-robin over the channels.
class Caller {
 public:
  virtual ~Caller() = default;
  // `done` runs on a gRPC thread once the call ends.
  virtual void Start(uint64_t seq, absl::Time deadline,
                     std::function<void(const grpc::Status&)> done) = 0;
  // One call, waited for: the probe before the load.
  grpc::Status StartAndWait(uint64_t seq, absl::Time deadline) {
    struct Outcome {
      absl::Mutex mu;
      bool finished ABSL_GUARDED_BY(mu) = false;
      grpc::Status status ABSL_GUARDED_BY(mu);
    };
    // Shared, so the callback may still be unlocking when this returns.
    auto outcome = std::make_shared<Outcome>();
    Start(seq, deadline, [outcome](const grpc::Status& s) {
      absl::MutexLock lock(&outcome->mu);
      outcome->status = s;
      outcome->finished = true;
    });
    absl::MutexLock lock(&outcome->mu);
    outcome->mu.Await(absl::Condition(&outcome->finished));
    return outcome->status;
  }
};

template <typename Service, typename Req, typename Resp>
class TypedCaller final : public Caller {
 public:
  using Method = void (Service::Stub::async::*)(grpc::ClientContext*, const Req*, Resp*,
                                                std::function<void(grpc::Status)>);

  TypedCaller(const std::vector<std::shared_ptr<grpc::Channel>>& channels, Method method,
              const Workload* workload)
      : method_(method), workload_(workload) {
    for (const auto& c : channels) stubs_.push_back(Service::NewStub(c));
  }

  void Start(uint64_t seq, absl::Time deadline,
             std::function<void(const grpc::Status&)> done) override {
    struct CallState {
      grpc::ClientContext ctx;
      Req request;
      Resp response;
    };
    auto* call = new CallState;
    workload_->Fill(seq, &call->request);
    call->ctx.set_deadline(absl::ToChronoTime(deadline));
    auto* stub = stubs_[seq % stubs_.size()].get();
    (stub->async()->*method_)(&call->ctx, &call->request, &call->response,
                              [call, done = std::move(done)](grpc::Status s) {
                                done(s);
                                delete call;
                              });
  }

 private:
  const Method method_;
  const Workload* workload_;
  std::vector<std::unique_ptr<typename Service::Stub>> stubs_;
};

// The method's parameter type picks the callback overload of the stub.
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
      return Make<R, v1::RankRequest, v1::RankResponse>(ch, &R::Stub::async::Rank, w);
    case Rpc::kRankBatch:
      return Make<R, v1::RankBatchRequest, v1::RankBatchResponse>(
          ch, &R::Stub::async::RankBatch, w);
    case Rpc::kRetrieve:
      return Make<R, v1::RetrieveRequest, v1::RetrieveResponse>(
          ch, &R::Stub::async::Retrieve, w);
    case Rpc::kScoreItems:
      return Make<R, v1::ScoreItemsRequest, v1::ScoreItemsResponse>(
          ch, &R::Stub::async::ScoreItems, w);
    case Rpc::kIngest:
      return Make<v1::IngestService, v1::IngestRequest, v1::IngestResponse>(
          ch, &v1::IngestService::Stub::async::Ingest, w);
  }
  return nullptr;
}

// What the completions report, under one lock.
class Recorder {
 public:
  void Sent() {
    absl::MutexLock lock(&mu_);
    ++inflight_;
  }
  // Blocks until fewer than `limit` calls are outstanding, then counts one
  // more.
  void SendWhenBelow(int limit) {
    absl::MutexLock lock(&mu_);
    auto below = [this, limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return inflight_ < limit;
    };
    mu_.Await(absl::Condition(&below));
    ++inflight_;
  }
  void Done(const grpc::Status& s, absl::Time start, bool measured) {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    --inflight_;
    if (!measured) {
      ++result_.warmup_requests;
      return;
    }
    ++result_.measured_requests;
    result_.latency.Record(absl::ToInt64Nanoseconds(now - start));
    // gRPC's codes are absl's, one to one.
    const std::string code =
        absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code()));
    ++result_.codes[code];
    if (!s.ok()) result_.first_errors.try_emplace(code, s.error_message());
    last_measured_done_ = std::max(last_measured_done_, now);
  }
  void Late() {
    absl::MutexLock lock(&mu_);
    ++result_.late_sends;
  }
  LoadTest::Result Take(absl::Time window_start, absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    // The window, or longer when the last measured call ended after it.
    const absl::Duration span =
        std::max(duration, last_measured_done_ - window_start);
    result_.achieved_rate = static_cast<double>(result_.measured_requests) /
                            absl::ToDoubleSeconds(span);
    return std::move(result_);
  }

 private:
  absl::Mutex mu_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  LoadTest::Result result_ ABSL_GUARDED_BY(mu_);
  absl::Time last_measured_done_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

void SleepUntil(absl::Time t) {
  const absl::Duration left = t - absl::Now();
  if (left > absl::ZeroDuration()) absl::SleepFor(left);
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
  const grpc::Status probe = caller->StartAndWait(0, absl::Now() + o.deadline);
  if (!probe.ok() && probe.error_code() != grpc::DEADLINE_EXCEEDED &&
      probe.error_code() != grpc::RESOURCE_EXHAUSTED) {
    return absl::Status(
        static_cast<absl::StatusCode>(probe.error_code()),
        absl::StrCat("the first ", RpcName(o.rpc), " to ", o.target,
                     " failed: ", probe.error_message()));
  }

  Recorder recorder;
  // Calls whose completion has not fully returned yet. It is the last thing
  // a completion touches, so once it is 0 nothing here is in use.
  std::atomic<int64_t> outstanding{0};
  const absl::Time start = absl::Now();
  const absl::Time window_start = start + o.warmup;
  const absl::Time end = window_start + o.duration;
  uint64_t next_seq = 1;  // 0 was the probe
  // Closed loop: each slot sends its next call from the previous one's
  // completion. Declared here, outside the branch, because completions use
  // it until `outstanding` drains below.
  absl::Mutex seq_mu;
  std::function<void()> send;

  if (o.rate > 0) {
    Rng gaps(DeriveSeed(o.seed, kRequestStream, ~uint64_t{0}));
    const double interval_s = 1.0 / o.rate;
    absl::Time due = start;
    while (due < end) {
      SleepUntil(due);
      recorder.SendWhenBelow(o.max_inflight);
      const absl::Time sent = absl::Now();
      const bool measured = due >= window_start;
      if (measured && sent - due > absl::Milliseconds(1)) recorder.Late();
      outstanding.fetch_add(1);
      caller->Start(next_seq++, sent + o.deadline,
                    [&recorder, &outstanding, due, measured](const grpc::Status& s) {
                      recorder.Done(s, due, measured);
                      outstanding.fetch_sub(1);
                    });
      const double gap = o.arrival == Arrival::kPoisson
                             ? -std::log(1 - gaps.Uniform()) * interval_s
                             : interval_s;
      due += absl::Seconds(gap);
    }
  } else {
    send = [&]() {
      const absl::Time sent = absl::Now();
      if (sent >= end) return;
      uint64_t seq;
      {
        absl::MutexLock lock(&seq_mu);
        seq = next_seq++;
      }
      recorder.Sent();
      outstanding.fetch_add(1);
      const bool measured = sent >= window_start;
      caller->Start(seq, sent + o.deadline,
                    [&recorder, &send, &outstanding, sent, measured](const grpc::Status& s) {
                      recorder.Done(s, sent, measured);
                      send();  // counts the next call before this one stops counting
                      outstanding.fetch_sub(1);
                    });
    };
    for (int i = 0; i < o.concurrency; ++i) send();
    SleepUntil(end);
  }
  // Every call has a deadline, so this ends.
  while (outstanding.load() > 0) absl::SleepFor(absl::Milliseconds(1));
  return recorder.Take(window_start, o.duration);
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
