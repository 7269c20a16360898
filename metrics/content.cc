#include "metrics/content.h"

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "metrics/diversity.h"
#include "metrics/metric_value.h"

namespace feedloop::metrics {
namespace {

// Stream tags under the caller's seed. kPairStream keeps the first wave's
// pairs when the caller passes DeriveSeed(run seed, 0x3e71, round).
constexpr uint64_t kTailSampleStream = 0x3e74;

}  // namespace

std::vector<v1::MetricValue> ContentMetrics(std::span<const float> rows, uint32_t dim,
                                            const ContentOptions& options,
                                            uint64_t seed) {
  std::vector<v1::MetricValue> out;
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  constexpr const char* kNoItems = "no items";
  Rng pair_rng(seed);
  AddValueOr(&out, "content.dispersion",
             n >= 2 ? std::optional<double>(
                          MeanPairwiseDistance(rows, dim, options.pair_samples, pair_rng))
                    : std::nullopt,
             "fewer than two items");
  AddValueOr(&out, "content.vendi",
             n > 0 ? std::optional<double>(VendiScore(rows, dim)) : std::nullopt, kNoItems);
  if (const model::TopicSpace* space = options.space) {
    if (space->topics() < 2) {
      AddAbsent(&out, "content.topic_entropy", "one topic: there is no histogram to spread");
    } else if (n == 0) {
      AddAbsent(&out, "content.topic_entropy", kNoItems);
    } else {
      std::vector<double> counts(space->topics(), 0.0);
      for (size_t i = 0; i < n; ++i) counts[space->Nearest(rows.subspan(i * dim, dim))] += 1;
      AddValue(&out, "content.topic_entropy", NormalizedEntropy(counts, space->topics()));
    }
  }
  if (const TailReference* tail = options.tail) {
    std::optional<TailReference::Stats> stats;
    std::string why;
    if (!tail->ok()) {
      why = tail->why_not();
    } else if (n == 0) {
      why = kNoItems;
    } else if (options.round_zero) {
      stats = tail->HeldOut();
    } else {
      Rng rng(DeriveSeed(seed, kTailSampleStream));
      stats = tail->Measure(rows, rng);
      why = absl::StrCat("no more than k = ", tail->neighbors(), " items");
    }
    AddValueOr(&out, "content.tail_recall",
               stats ? std::optional<double>(stats->recall) : std::nullopt, why);
    AddValueOr(&out, "content.tail_share",
               stats ? std::optional<double>(stats->share) : std::nullopt, why);
  }
  return out;
}

}  // namespace feedloop::metrics
