#include "metrics/catalog.h"


namespace feedloop::metrics {
namespace {

constexpr MetricInfo kCatalog[] = {
    {"content.dispersion", "mean pairwise cosine distance among the round's new items"},
    {"content.vendi",
     "Vendi score of the round's new items: the effective number of distinct items"},
    {"content.topic_entropy", "entropy of the new items' nearest-topic histogram, / log K"},
    {"content.tail_mass",
     "share of new items beyond round 0's 90th percentile distance from their topic"},
    {"creators.drift", "mean distance of creators' current style from their home style"},
    {"exposure.gini_items", "Gini coefficient of impressions over live items"},
    {"exposure.gini_creators", "Gini coefficient of impressions over creators"},
    {"exposure.entropy_creators", "normalized entropy of impressions over creators"},
    {"exposure.coverage", "share of live items with at least one impression"},
    {"exposure.top1pct_share", "share of impressions that went to the top 1% of items"},
    {"exposure.ai_share", "share of impressions that went to platform-generated items"},
    {"slate.ild", "intra-list diversity: mean pairwise distance within a slate"},
    {"consumption.jaccard",
     "mean Jaccard similarity of users' consumed sets over the last rounds (homogenization)"},
    {"consumption.engagement_rate", "engagements / impressions"},
    {"consumption.utility", "mean true affinity of consumed items"},
    {"consumption.underserved",
     "share of users whose mean consumed affinity is below the threshold"},
    {"users.interest_drift", "mean distance of users' interests from their initial value"},
    {"lifecycle.median_lifetime",
     "median rounds between first and last impression of items expiring this round"},
    {"lifecycle.never_seen", "share of items expiring this round that were never shown"},
    {"lifecycle.items_per_attention",
     "new items / (users x attention): how far content outgrows attention"},
};

}  // namespace

std::span<const MetricInfo> MetricCatalog() { return kCatalog; }

std::string_view DescribeMetric(std::string_view name) {
  for (const MetricInfo& m : kCatalog) {
    if (m.name == name) return m.description;
  }
  return {};
}

size_t CatalogOrder(std::string_view name) {
  for (size_t i = 0; i < std::size(kCatalog); ++i) {
    if (kCatalog[i].name == name) return i;
  }
  return std::size(kCatalog);
}

}  // namespace feedloop::metrics
