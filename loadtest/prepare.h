// A run to load-test: a store run of `items` seeded unit vectors at round 0,
// opened and indexed on a ranker, so Rank, RankBatch, Retrieve and
// ScoreItems have something to serve (and Ingest somewhere to write).
//
//   PrepareOptions p;
//   p.store = "127.0.0.1:7001"; p.ranker = "127.0.0.1:7002";
//   p.run_id = "loadtest-1"; p.items = 100000; p.dim = 64;
//   FEEDLOOP_RETURN_IF_ERROR(PrepareRun(p));

#ifndef FEEDLOOP_LOADTEST_PREPARE_H_
#define FEEDLOOP_LOADTEST_PREPARE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "rpc/transport.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/types.pb.h"

namespace feedloop::loadtest {

struct PrepareOptions {
  std::string store;   // HOST:PORT. Required.
  std::string ranker;  // HOST:PORT; empty: store only (for Ingest load).
  std::string run_id;  // Required; ALREADY_EXISTS if the store has it.
  Transport transport;  // to both. Default: plaintext.
  // Items at round 0. Default: 100000.
  uint32_t items = 100000;
  // Embedding dimension. Default: 64.
  uint32_t dim = 64;
  // The users the ranker knows (user ids [0, users)). Default: 10000.
  uint32_t users = 10000;
  // The ranker's index. Default: HNSW.
  v1::RankerConfig::IndexType index = v1::RankerConfig::HNSW;
  uint64_t seed = 1;
};

// The config the run is created with (valid by config::ValidateConfig).
v1::ExperimentConfig PrepareConfig(const PrepareOptions& options);

// Items [first, first + n) of the run: ids first + 1..., round 0, seeded
// unit vectors. PrepareRun stores exactly these.
std::vector<v1::Item> SyntheticItems(const PrepareOptions& options, uint32_t first,
                                     uint32_t n);

// Creates, fills and opens the run. Errors name the step and the server's
// reason.
absl::Status PrepareRun(const PrepareOptions& options);

}  // namespace feedloop::loadtest

#endif  // FEEDLOOP_LOADTEST_PREPARE_H_
