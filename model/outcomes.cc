#include "model/outcomes.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"

namespace feedloop::model {

std::vector<v1::ItemOutcome> OutcomesOf(uint32_t round,
                                        std::span<const v1::Interaction> interactions) {
  absl::flat_hash_map<uint64_t, v1::ItemOutcome> by_id;
  for (const v1::Interaction& x : interactions) {
    if ((x.item_id() >> 32) != round) continue;  // ids carry their round
    v1::ItemOutcome& o = by_id[x.item_id()];
    o.set_item_id(x.item_id());
    o.set_impressions(o.impressions() + 1);
    o.set_engagements(o.engagements() + (x.engaged() ? 1 : 0));
  }
  std::vector<v1::ItemOutcome> out;
  out.reserve(by_id.size());
  for (auto& [id, o] : by_id) out.push_back(std::move(o));
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.item_id() < b.item_id(); });
  return out;
}

}  // namespace feedloop::model
