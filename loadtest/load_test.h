// Drives one RankerService or IngestService RPC at a target and measures
// latency the way a user of the service sees it.
//
//   LoadTest::Options options;
//   options.target = "127.0.0.1:7002";
//   options.rpc = Rpc::kRank;
//   options.run_id = "coupling-...p0r0";
//   options.rate = 1000;               // open loop; 0 for closed loop
//   FEEDLOOP_ASSIGN_OR_RETURN(LoadTest::Result r, LoadTest::Run(options));
//   std::cout << FormatSummary(options, r);
//
// Open loop (rate > 0): requests are due at fixed (or Poisson) intervals
// whatever the server does, and each latency runs from the time the request
// was *due*, not from when it was sent. A stalled server therefore shows as
// the latency every due request experienced, instead of as one slow request
// among few (coordinated omission). Past max_inflight outstanding requests,
// due requests wait for a slot, and the wait counts.
//
// Closed loop (rate = 0): `concurrency` requests in flight; each completion
// sends the next. Latency runs from the send: this measures the service's
// capacity, not the latency users would see at a given load.
//
// Requests are generated from the seed and their sequence number, so two
// runs with the same options send the same requests.

#ifndef FEEDLOOP_LOADTEST_LOAD_TEST_H_
#define FEEDLOOP_LOADTEST_LOAD_TEST_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/transport.h"
#include "loadtest/histogram.h"

namespace feedloop::loadtest {

enum class Rpc { kRank, kRankBatch, kRetrieve, kScoreItems, kIngest };
enum class Arrival { kConstant, kPoisson };

// "Rank" -> kRank, ...; INVALID_ARGUMENT naming the choices otherwise.
absl::StatusOr<Rpc> ParseRpc(const std::string& name);
const char* RpcName(Rpc rpc);

class LoadTest {
 public:
  struct Options {
    // HOST:PORT of a ranker (Rank, RankBatch, Retrieve, ScoreItems) or a
    // store (Ingest).
    std::string target;
    Rpc rpc = Rpc::kRank;
    // The run the requests name; it must be open on the target.
    std::string run_id;

    // Requests per second; > 0 is open loop. Default: 0 (closed loop).
    double rate = 0;
    // Open loop: arrivals at constant intervals or Poisson. Default: constant.
    Arrival arrival = Arrival::kConstant;
    // Closed loop: requests in flight. Default: 16.
    int concurrency = 16;
    // Open loop: the most requests outstanding; due requests past it wait,
    // and their wait counts as latency. Default: 10000.
    int max_inflight = 10000;
    // Plaintext or TLS. Default: plaintext.
    Transport transport;
    // Channels, each its own TCP connection; calls go round-robin. Default: 4.
    int connections = 4;
    // Client threads, each polling its own completion queue and owning an
    // even share of the calls in flight (concurrency, or max_inflight in
    // open loop). 0: one per core, at most one per connection. Default: 0.
    int threads = 0;
    // Requests due in the warm-up are sent but not measured. Default: 1 s.
    absl::Duration warmup = absl::Seconds(1);
    // The measured window. Default: 10 s.
    absl::Duration duration = absl::Seconds(10);
    // Deadline of every call. Default: 5 s.
    absl::Duration deadline = absl::Seconds(5);

    // Request contents.
    uint64_t seed = 1;
    // User ids are drawn from [0, users): uniform when zipf_s is 0, Zipf
    // with exponent zipf_s otherwise (user 0 the most frequent).
    // Default: 10000 users, uniform.
    uint32_t users = 10000;
    double zipf_s = 0;
    // Users per RankBatch, queries per Retrieve, candidates per ScoreItems,
    // items per Ingest. Default: 64.
    uint32_t batch = 64;
    // The run's embedding dimension (Retrieve, ScoreItems, Ingest). Default: 32.
    uint32_t dim = 32;
    uint32_t slate_size = 10;  // Rank, RankBatch. Default: 10.
    uint32_t k = 100;          // Retrieve. Default: 100.
    // Ingest: the round the items carry. Default: 0.
    uint32_t round = 0;
  };

  struct Result {
    // Latency of the measured requests, in nanoseconds (all outcomes).
    Histogram latency;
    // Measured requests by gRPC status code name ("OK", "DEADLINE_EXCEEDED").
    std::map<std::string, uint64_t> codes;
    // The first error message seen for each failing code.
    std::map<std::string, std::string> first_errors;
    uint64_t warmup_requests = 0;
    uint64_t measured_requests = 0;
    // Measured requests / the measured window, in requests per second.
    double achieved_rate = 0;
    // Open loop: measured requests sent later than due by more than 1 ms
    // (the load generator or max_inflight could not keep up).
    uint64_t late_sends = 0;
    double error_rate() const;
  };

  // Checks the options (INVALID_ARGUMENT naming the option), connects
  // (UNAVAILABLE naming the target if it does not answer within 5 s), then
  // runs warm-up and measurement. Call failures are counted, not returned.
  static absl::StatusOr<Result> Run(const Options& options);

  static absl::Status Validate(const Options& options);
};

// A terminal summary: requests, achieved rate, p50/p90/p99/p99.9/max,
// status codes and the first error of each.
std::string FormatSummary(const LoadTest::Options& options, const LoadTest::Result& r);
// The same as JSON (options, counts, percentiles in microseconds).
std::string ToJson(const LoadTest::Options& options, const LoadTest::Result& r);
// The histogram's non-empty buckets: low_us,high_us,count,cumulative_fraction.
std::string ToCsv(const LoadTest::Result& r);

}  // namespace feedloop::loadtest

#endif  // FEEDLOOP_LOADTEST_LOAD_TEST_H_
