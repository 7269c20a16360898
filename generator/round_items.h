// RoundItems: the items of one generated round, held compactly (one row of
// floats per item, no per-item objects), so that a round of millions of
// items costs its embeddings' bytes and little more. Item i of round r has
// id (r << 32) | (i + 1); its wire form (v1::Item, with its title) is
// made only when it is sent (Generator::ItemAt).

#ifndef FEEDLOOP_GENERATOR_ROUND_ITEMS_H_
#define FEEDLOOP_GENERATOR_ROUND_ITEMS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace feedloop::generator {

struct RoundItems {
  uint32_t round = 0;
  uint32_t dim = 0;
  // Per item: its creator, or the run's creator count for the platform's
  // own items.
  std::vector<uint32_t> creators;
  // items x dim, row i for item i.
  std::vector<float> embeddings;

  size_t size() const { return creators.size(); }
  uint64_t id(size_t i) const { return (uint64_t{round} << 32) | (i + 1); }
  std::span<const float> embedding(size_t i) const {
    return std::span<const float>(embeddings.data() + i * dim, dim);
  }
  // The row of item `id`, or nothing when it is not an item of this round.
  std::optional<size_t> RowOf(uint64_t id) const {
    if ((id >> 32) != round) return std::nullopt;
    const uint64_t n = id & 0xffffffffu;
    if (n == 0 || n > size()) return std::nullopt;
    return static_cast<size_t>(n - 1);
  }
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_ROUND_ITEMS_H_
