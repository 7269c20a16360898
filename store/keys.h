// Key layout of the store's column families. Every key starts with the
// run's prefix, so one run's data is contiguous and a run's scans never
// touch another run. Integers are big-endian so that byte order is numeric
// order.
//
//   column family   key                                   value
//   runs            run_id                                RunRecord
//   items           run | round:be32 | item_id:be64       Item
//   item_ids        run | item_id:be64                    round:be32
//   interactions    run | round:be32 | user:be32 | pos:be32
//                                                         item_id:be64 engaged:u8
//   metrics         run | metric '\0' | round:be32        value:be64 (IEEE bits)
//   checkpoints     run | round:be32                      RoundCheckpoint
//
// where run = length:u8 | run_id bytes.

#ifndef FEEDLOOP_STORE_KEYS_H_
#define FEEDLOOP_STORE_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "feedloop/v1/types.pb.h"

namespace feedloop::store {

inline constexpr size_t kMaxRunIdLength = 64;
inline constexpr size_t kMaxMetricNameLength = 128;
// The longest reason an absent metric value may carry (MetricValue.absent).
inline constexpr size_t kMaxAbsentReasonLength = 200;

// OK for 1 to 64 characters of [A-Za-z0-9._-]; INVALID_ARGUMENT naming
// `field` otherwise.
absl::Status ValidateRunId(absl::string_view run_id,
                           absl::string_view field = "run_id");
// OK for 1 to 128 characters of [a-z0-9._]; INVALID_ARGUMENT naming `field`.
absl::Status ValidateMetricName(absl::string_view name,
                                absl::string_view field);

void AppendBe32(std::string* out, uint32_t v);
void AppendBe64(std::string* out, uint64_t v);
uint32_t ReadBe32(const char* p);
uint64_t ReadBe64(const char* p);

std::string RunPrefix(absl::string_view run_id);
std::string ItemKey(absl::string_view run_id, uint32_t round, uint64_t id);
std::string ItemRoundPrefix(absl::string_view run_id, uint32_t round);
std::string ItemIdKey(absl::string_view run_id, uint64_t id);
std::string InteractionKey(absl::string_view run_id, uint32_t round,
                           uint32_t user, uint32_t position);
std::string InteractionRoundPrefix(absl::string_view run_id, uint32_t round);
std::string MetricKey(absl::string_view run_id, absl::string_view metric,
                      uint32_t round);

// The smallest key greater than every key starting with `prefix`.
std::string PrefixEnd(absl::string_view prefix);

// Parts of keys read back during scans (the run prefix already stripped).
struct InteractionKeyParts {
  uint32_t round;
  uint32_t user;
  uint32_t position;
};
bool ParseInteractionSuffix(absl::string_view suffix, InteractionKeyParts* out);
// "metric\0round" -> metric, round.
bool ParseMetricSuffix(absl::string_view suffix, std::string* metric,
                       uint32_t* round);

std::string EncodeDouble(double v);
double DecodeDouble(absl::string_view bytes);

// A stored metric value: a defined value is its 8-byte double (always
// finite); an absent one is a NaN pattern followed by the reason, so that
// stores written before absences existed read unchanged.
std::string EncodeMetricValue(const v1::MetricValue& v);
// False for bytes that are neither.
bool DecodeMetricValue(absl::string_view bytes, v1::MetricValue* v);

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_KEYS_H_
