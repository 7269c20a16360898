#include "metrics/catalog.h"

#include <string>
#include <vector>

#include <set>

#include "gtest/gtest.h"

namespace feedloop::metrics {
namespace {

TEST(Catalog, EveryEntryHasADefinitionAndARangeAndNoNameIsReused) {
  std::set<std::string_view> names;
  for (const MetricInfo& m : MetricCatalog()) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name;
    EXPECT_FALSE(m.description.empty()) << m.name;
    EXPECT_FALSE(m.range.empty()) << m.name;
    EXPECT_EQ(FindRetired(m.name), nullptr) << m.name << " is both current and retired";
  }
  for (const RetiredMetric& r : RetiredCatalog()) {
    EXPECT_EQ(FindMetric(r.name), nullptr) << r.name;
    EXPECT_FALSE(r.why.empty());
    EXPECT_NE(DescribeMetric(r.name).find("retired"), std::string::npos);
  }
}

TEST(Catalog, DefaultKeyMetricsAreCurrentMetrics) {
  for (const std::string& k : DefaultKeyMetrics()) {
    EXPECT_NE(FindMetric(k), nullptr) << k;
  }
  v1::ExperimentConfig config;
  EXPECT_EQ(KeyMetrics(config), DefaultKeyMetrics());
  config.mutable_metrics()->add_key_metrics("content.vendi");
  EXPECT_EQ(KeyMetrics(config), std::vector<std::string>{"content.vendi"});
}

TEST(Catalog, OrderAndDescriptions) {
  EXPECT_LT(CatalogOrder("content.vendi"), CatalogOrder("lifecycle.never_seen"));
  EXPECT_EQ(CatalogOrder("no.such"), MetricCatalog().size());
  EXPECT_EQ(DescribeMetric("no.such"), "");
  EXPECT_NE(DescribeMetric("exposure.gini_items").find("exposure.gini_shown"),
            std::string::npos);
}

// How queries name metrics: a full name, or a family as a prefix ending in
// '.'. A plain prefix match (the plausible wrong rule) would let
// "content.v" pick content.vendi and "exposure.gini" pick both ginis.
TEST(Catalog, AFilterIsAFullNameOrAFamilyEndingInADot) {
  EXPECT_TRUE(MatchesFilter("content.vendi", "content.vendi"));
  EXPECT_TRUE(MatchesFilter("content.vendi", "content."));
  EXPECT_FALSE(MatchesFilter("content.vendi", "content.v"));
  EXPECT_FALSE(MatchesFilter("exposure.gini_shown", "exposure.gini"));
  EXPECT_FALSE(MatchesFilter("content", "content."));
  EXPECT_FALSE(MatchesFilter("contents.x", "content."));
  const std::vector<std::string> none;
  EXPECT_TRUE(MatchesAnyFilter("slate.ild", none));  // no filter: everything
  const std::vector<std::string> two = {"slate.", "content.vendi"};
  EXPECT_TRUE(MatchesAnyFilter("slate.ild", two));
  EXPECT_TRUE(MatchesAnyFilter("content.vendi", two));
  EXPECT_FALSE(MatchesAnyFilter("content.dispersion", two));
}

}  // namespace
}  // namespace feedloop::metrics
