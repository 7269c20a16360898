// Which item ids exist: 1 to 2^63 - 1. The index keys items by a signed
// 64-bit id (FAISS's idx_t), so a larger one could be stored but never
// ranked; 0 means "no item". The store and the ranker check by this one
// rule.

#ifndef FEEDLOOP_MODEL_ITEM_ID_H_
#define FEEDLOOP_MODEL_ITEM_ID_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace feedloop::model {

inline constexpr uint64_t kMaxItemId = (uint64_t{1} << 63) - 1;

// INVALID_ARGUMENT naming `field` unless `id` is in [1, 2^63).
inline absl::Status CheckItemId(uint64_t id, absl::string_view field) {
  if (id == 0 || id > kMaxItemId) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be in [1, 2^63), got ", id));
  }
  return absl::OkStatus();
}

}  // namespace feedloop::model

#endif  // FEEDLOOP_MODEL_ITEM_ID_H_
