// TopicSpace: the unit sphere of an experiment, its K topic centres, and a
// small vocabulary per topic for readable titles. Every part of the system
// that needs topics (creators, users, metrics) builds the same space from
// the same config, so they agree without talking.
//
//   TopicSpace space = TopicSpace::FromConfig(config);
//   int t = space.Nearest(item_embedding);          // 0 .. topics-1
//   std::string title = space.Title(item_embedding, rng);
//   // e.g. "orbit telescope comet · rover"
//
// Immutable after construction; thread-safe.

#ifndef FEEDLOOP_MODEL_TOPIC_SPACE_H_
#define FEEDLOOP_MODEL_TOPIC_SPACE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/random.h"
#include "feedloop/v1/config.pb.h"

namespace feedloop::model {

class TopicSpace {
 public:
  // Topic centres drawn uniformly on the sphere from the config's seed.
  static TopicSpace FromConfig(const v1::ExperimentConfig& config);
  TopicSpace(uint32_t dim, uint32_t topics, uint64_t seed);

  uint32_t dim() const { return dim_; }
  uint32_t topics() const { return topics_; }
  std::span<const float> Centre(uint32_t topic) const {
    return {centres_.data() + size_t{topic} * dim_, dim_};
  }
  // The topic whose centre has the largest inner product with `e`.
  uint32_t Nearest(std::span<const float> e) const;
  // The two nearest topics, best first (the same twice when K = 1).
  std::pair<uint32_t, uint32_t> NearestTwo(std::span<const float> e) const;
  // A topic's name ("space", "cooking", ...; "space-2" past the built-in
  // list) and a short title for an embedding: two words of its nearest
  // topic and one of the next.
  std::string TopicName(uint32_t topic) const;
  std::string Title(std::span<const float> e, Rng& rng) const;

 private:
  uint32_t dim_;
  uint32_t topics_;
  std::vector<float> centres_;
};

// normalize(centre + spread * eps), eps an isotropic Gaussian with expected
// norm 1 (per coordinate N(0, 1/dim)): the model's way of drawing a point
// near a direction. Writes dim floats to `out`.
void DrawAround(std::span<const float> centre, double spread, Rng& rng,
                std::span<float> out);

}  // namespace feedloop::model

#endif  // FEEDLOOP_MODEL_TOPIC_SPACE_H_
