#include "metrics/catalog.h"


namespace feedloop::metrics {
namespace {

// Keep in step with docs/metrics.md, which gives each one's reasoning.
constexpr MetricInfo kCatalog[] = {
    {"content.dispersion",
     "mean pairwise cosine distance among the round's new items", "[0, 2]"},
    {"content.vendi",
     "Vendi score of the round's new items: the effective number of distinct "
     "directions",
     "[1, dim]"},
    {"content.creator_dispersion",
     "mean over creators of the mean pairwise cosine distance among their own new "
     "items this round: how varied each creator's output is (platform items apart)",
     "[0, 2]"},
    {"content.topic_entropy",
     "entropy of the new items' nearest-topic histogram / log K; follows the "
     "creators' topic assignment until creators leave their topics",
     "[0, 1]"},
    {"content.tail_recall",
     "share of round 0's tail items (its sparsest 10%) inside the k-NN manifold of "
     "the round's new items: does content still reach round 0's tails",
     "[0, 1]"},
    {"content.tail_share",
     "share of the round's new items lying in round 0's tails (the same k-NN relation "
     "from the other side): how much of the content is still tail content",
     "[0, 1]"},
    {"creators.drift", "mean cosine distance of creators' current style from their home",
     "[0, 2]"},
    {"exposure.coverage", "share of live items with at least one impression this round",
     "[0, 1]"},
    {"exposure.gini_shown",
     "Gini coefficient of impressions among the items shown this round (coverage apart)",
     "[0, 1)"},
    {"exposure.top1pct_share",
     "share of the round's impressions that went to the 1% most-shown live items",
     "[0, 1]"},
    {"exposure.gini_creators",
     "Gini coefficient of the round's creator-item impressions over all creators",
     "[0, 1)"},
    {"exposure.entropy_creators",
     "normalized entropy of the round's creator-item impressions over creators", "[0, 1]"},
    {"exposure.ai_share", "share of the round's impressions that went to platform items",
     "[0, 1]"},
    {"slate.ild", "intra-list diversity: mean pairwise distance within a slate, over users",
     "[0, 2]"},
    {"consumption.engagement_rate", "engagements / impressions", "[0, 1]"},
    {"consumption.welfare",
     "mean over all users of the true affinity they engaged this round / attention; "
     "users who engaged nothing count 0",
     "[-1, 1]"},
    {"consumption.engaged_affinity",
     "mean true affinity of engaged items (conditional on engagement: not welfare)",
     "[-1, 1]"},
    {"consumption.underserved",
     "share of users whose mean engaged affinity is below the threshold, or who "
     "engaged nothing",
     "[0, 1]"},
    {"consumption.similarity",
     "mean cosine similarity between what two users engaged over the window "
     "(sampled pairs of active users): homogenization on content",
     "[-1, 1]"},
    {"consumption.jaccard",
     "mean Jaccard similarity of the item ids two users engaged over the window "
     "(sampled pairs of active users)",
     "[0, 1]"},
    {"consumption.idle_users", "share of users who engaged nothing over the window",
     "[0, 1]"},
    {"users.interest_drift", "mean cosine distance of users' interests from their initial value",
     "[0, 2]"},
    {"lifecycle.never_seen", "share of the items expiring this round that were never shown",
     "[0, 1]"},
    {"lifecycle.impressions_per_item",
     "mean impressions over its life of an expiring item that was shown", "[1, inf)"},
    {"lifecycle.attention_halflife",
     "impression-weighted mean, over expiring shown items, of the age (rounds) by which "
     "an item had half its impressions: how long content holds attention",
     "[0, ttl]"},
    {"lifecycle.one_round_share",
     "share of expiring shown items whose impressions all fell in one round", "[0, 1]"},
    {"lifecycle.items_per_engagement",
     "the round's new items / the round's engagements: content per unit of attention spent",
     "(0, inf)"},
};

constexpr RetiredMetric kRetired[] = {
    {"content.tail_mass", "content.tail_recall and content.tail_share",
     "measured distance to fixed topic centres, so content collapsing between topics "
     "read as all tail (1.0) exactly when the tails had gone"},
    {"exposure.gini_items", "exposure.gini_shown and exposure.coverage",
     "equalled 1 - coverage x (1 - Gini among shown items): it mostly measured coverage"},
    {"consumption.utility", "consumption.welfare (and consumption.engaged_affinity)",
     "averaged only over engaged items, so a random ranker scored above a popular one"},
    {"lifecycle.median_lifetime",
     "lifecycle.attention_halflife, lifecycle.one_round_share and "
     "lifecycle.impressions_per_item",
     "lifetimes are bimodal; the unweighted median sat at 0 in almost every run, and "
     "the span from first to last impression saturates at the item's life"},
    {"lifecycle.items_per_attention", "lifecycle.items_per_engagement",
     "was arithmetic on the config, not a measurement"},
};

}  // namespace

std::span<const MetricInfo> MetricCatalog() { return kCatalog; }
std::span<const RetiredMetric> RetiredCatalog() { return kRetired; }

const MetricInfo* FindMetric(std::string_view name) {
  for (const MetricInfo& m : kCatalog) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const RetiredMetric* FindRetired(std::string_view name) {
  for (const RetiredMetric& m : kRetired) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string DescribeMetric(std::string_view name) {
  if (const MetricInfo* m = FindMetric(name)) return std::string(m->description);
  if (const RetiredMetric* r = FindRetired(name)) {
    return std::string("retired (no longer recorded; see ")
        .append(r->replaced_by)
        .append("): ")
        .append(r->why);
  }
  return {};
}

size_t CatalogOrder(std::string_view name) {
  for (size_t i = 0; i < std::size(kCatalog); ++i) {
    if (kCatalog[i].name == name) return i;
  }
  return std::size(kCatalog);
}

const std::vector<std::string>& DefaultKeyMetrics() {
  static const auto* keys = new std::vector<std::string>{
      "content.vendi",          "content.tail_recall", "exposure.gini_shown",
      "exposure.coverage",      "consumption.similarity", "consumption.welfare",
      "lifecycle.impressions_per_item"};
  return *keys;
}

std::vector<std::string> KeyMetrics(const v1::ExperimentConfig& config) {
  const auto& keys = config.metrics().key_metrics();
  if (keys.empty()) return DefaultKeyMetrics();
  return {keys.begin(), keys.end()};
}

}  // namespace feedloop::metrics
