// The limits of what a request may ask, each stated once: here, and in the
// comment of the proto field it bounds (proto/feedloop/v1/*.proto), with
// the same number. Servers enforce these; clients (the loop, the
// generator's reward model) cut their calls to fit them.

#ifndef FEEDLOOP_CONFIG_LIMITS_H_
#define FEEDLOOP_CONFIG_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace feedloop::config {

// The largest embedding dimension (space.dim), and so of any embedding a
// service is given.
inline constexpr uint32_t kMaxDim = 4096;

// RankerService.RankBatch: users per request.
inline constexpr size_t kMaxRankUsers = 10000;
// RankerService.Retrieve: query rows per request, neighbours per query
// (k), and rows x k (the response's size: 12 bytes a neighbour).
inline constexpr size_t kMaxQueryRows = 10000;
inline constexpr uint32_t kMaxRetrieveK = 10000;
inline constexpr uint64_t kMaxRetrieveResults = 4000000;
// RankerService.ScoreItems: candidate rows, scoring users (user_ids, or
// sample_users once capped at the run's users), and rows x users x dim,
// the affinity multiply-adds of one call (MMR adds up to slate_size times
// as many; the call checks its caller every 2^16 or so).
inline constexpr size_t kMaxScoreRows = 100000;
inline constexpr size_t kMaxScoreUsers = 100000;
// ... and users x dim, the floats of their estimates the call holds.
inline constexpr uint64_t kMaxScoreUserFloats = uint64_t{1} << 24;
inline constexpr uint64_t kMaxScoreWork = uint64_t{1} << 32;

// DiversityService.Evaluate: rows, and rows x dim (the floats it holds).
inline constexpr size_t kMaxEvaluateRows = 100000;
inline constexpr uint64_t kMaxEvaluateFloats = uint64_t{1} << 23;

// Neighbours one search of the ranker's index returns at once: a ranker
// cuts its users into batches of at most this many results (users x
// candidates), which bounds a call's memory and is where it checks
// whether its caller is still there.
inline constexpr uint64_t kMaxSearchResults = uint64_t{1} << 22;

}  // namespace feedloop::config

#endif  // FEEDLOOP_CONFIG_LIMITS_H_
