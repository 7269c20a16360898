#include "metrics/content.h"

#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "metrics/diversity.h"
#include "metrics/metric_value.h"

namespace feedloop::metrics {
namespace {

// Stream tags under the caller's seed. kPairStream keeps the first wave's
// pairs when the caller passes DeriveSeed(run seed, 0x3e71, round).
constexpr uint64_t kTailSampleStream = 0x3e74;
constexpr uint64_t kCreatorPairStream = 0x3e75;

// The mean over creators with two or more rows of the mean pairwise
// distance among their own rows; nullopt when no creator has two.
std::optional<double> CreatorDispersion(std::span<const float> rows, uint32_t dim,
                                        std::span<const int64_t> creators,
                                        size_t pair_samples, uint64_t seed) {
  // Row numbers per creator; each creator's rows are gathered in turn, so
  // the copy is one creator's items, not the round's.
  std::map<int64_t, std::vector<size_t>> by_creator;
  for (size_t i = 0; i < creators.size(); ++i) {
    if (creators[i] >= 0) by_creator[creators[i]].push_back(i);
  }
  double sum = 0;
  size_t counted = 0;
  std::vector<float> mine;
  for (const auto& [creator, rows_of] : by_creator) {
    if (rows_of.size() < 2) continue;
    mine.clear();
    for (size_t i : rows_of) {
      const auto row = rows.subspan(i * dim, dim);
      mine.insert(mine.end(), row.begin(), row.end());
    }
    Rng rng(DeriveSeed(seed, kCreatorPairStream, static_cast<uint64_t>(creator)));
    sum += MeanPairwiseDistance(mine, dim, pair_samples, rng);
    ++counted;
  }
  if (counted == 0) return std::nullopt;
  return sum / counted;
}

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
  if (!options.creators.empty()) {
    AddValueOr(&out, "content.creator_dispersion",
               options.creators.size() == n
                   ? CreatorDispersion(rows, dim, options.creators, options.pair_samples, seed)
                   : std::nullopt,
               options.creators.size() == n
                   ? "no creator made two of the items"
                   : "the creator ids do not match the rows");
  }
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
