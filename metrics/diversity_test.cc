#include "metrics/diversity.h"

#include <cmath>

#include "gtest/gtest.h"

namespace feedloop::metrics {
namespace {

std::vector<float> Basis(uint32_t dim, std::initializer_list<int> axes) {
  std::vector<float> rows;
  for (int a : axes) {
    std::vector<float> r(dim, 0.0f);
    r[a] = 1;
    rows.insert(rows.end(), r.begin(), r.end());
  }
  return rows;
}

TEST(Diversity, VendiOfOrthogonalAndIdenticalRows) {
  EXPECT_NEAR(VendiScore(Basis(4, {0, 1, 2, 3}), 4), 4.0, 1e-9);
  EXPECT_NEAR(VendiScore(Basis(4, {2, 2, 2}), 4), 1.0, 1e-9);
  // Two directions, equally often: exp(log 2) = 2.
  EXPECT_NEAR(VendiScore(Basis(8, {0, 5, 0, 5}), 8), 2.0, 1e-9);
  // Unequal shares 3:1 -> exp(H(0.75, 0.25)).
  const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  EXPECT_NEAR(VendiScore(Basis(3, {1, 1, 1, 2}), 3), std::exp(h), 1e-9);
  EXPECT_EQ(VendiScore({}, 3), 0);
}

TEST(Diversity, MeanPairwiseDistanceExactAndSampled) {
  Rng rng(1);
  // Orthogonal rows: every pair at distance 1.
  EXPECT_DOUBLE_EQ(MeanPairwiseDistance(Basis(3, {0, 1, 2}), 3, 100, rng), 1.0);
  // Two identical and one opposite: pairs 0, 2, 2 -> 4/3.
  std::vector<float> rows = {1, 0, 1, 0, -1, 0};
  EXPECT_NEAR(MeanPairwiseDistance(rows, 2, 100, rng), 4.0 / 3, 1e-12);
  // Sampled estimate of the same population.
  std::vector<float> many;
  for (int i = 0; i < 200; ++i) {
    many.push_back(i % 2 ? 1.0f : 0.0f);
    many.push_back(i % 2 ? 0.0f : 1.0f);
  }
  EXPECT_NEAR(MeanPairwiseDistance(many, 2, 5000, rng), 100.0 / 199, 0.03);
  EXPECT_EQ(MeanPairwiseDistance(Basis(3, {0}), 3, 10, rng), 0);
}

TEST(Diversity, GiniOfKnownVectors) {
  EXPECT_DOUBLE_EQ(Gini(std::vector<double>{5, 5, 5, 5}), 0.0);
  // One of four holds everything: (n - 1) / n = 0.75.
  EXPECT_DOUBLE_EQ(Gini(std::vector<double>{0, 0, 0, 8}), 0.75);
  // {1, 2, 3, 4}: G = 2*(1+4+9+16)/(4*10) - 5/4 = 0.25.
  EXPECT_NEAR(Gini(std::vector<double>{4, 1, 3, 2}), 0.25, 1e-12);
  EXPECT_EQ(Gini({}), 0);
  EXPECT_EQ(Gini(std::vector<double>{0, 0}), 0);
}

TEST(Diversity, EntropyEdgeCases) {
  EXPECT_DOUBLE_EQ(NormalizedEntropy(std::vector<double>{1, 1, 1, 1}, 4), 1.0);
  EXPECT_DOUBLE_EQ(NormalizedEntropy(std::vector<double>{7, 0, 0, 0}, 4), 0.0);
  EXPECT_NEAR(NormalizedEntropy(std::vector<double>{1, 1}, 4), 0.5, 1e-12);
  EXPECT_EQ(NormalizedEntropy(std::vector<double>{3}, 1), 0);
  EXPECT_EQ(NormalizedEntropy(std::vector<double>{0, 0}, 2), 0);
  EXPECT_EQ(NormalizedEntropy({}, 5), 0);
}

TEST(Diversity, JaccardOfKnownSets) {
  const std::vector<uint64_t> a = {1, 2, 3}, b = {2, 3, 4, 5}, empty;
  EXPECT_DOUBLE_EQ(*Jaccard(a, b), 2.0 / 5);
  EXPECT_DOUBLE_EQ(*Jaccard(a, a), 1.0);
  EXPECT_DOUBLE_EQ(*Jaccard(a, empty), 0.0);
  // Two users who consumed nothing have nothing to compare: not "0".
  EXPECT_FALSE(Jaccard(empty, empty).has_value());
}

TEST(Diversity, WeightedQuantile) {
  // Four items: lifetimes 0, 0, 0, 4 with impressions 1, 1, 1, 97. The
  // unweighted median is 0; the impression-weighted one is 4.
  const std::vector<double> life = {0, 0, 0, 4}, impressions = {1, 1, 1, 97};
  EXPECT_EQ(Quantile(life, 0.5), 0);
  EXPECT_EQ(*WeightedQuantile(life, impressions, 0.5), 4);
  EXPECT_EQ(*WeightedQuantile(life, std::vector<double>{1, 1, 1, 1}, 0.5), 0);
  EXPECT_EQ(*WeightedQuantile(std::vector<double>{3, 1, 2},
                              std::vector<double>{1, 1, 1}, 0.5), 2);
  EXPECT_FALSE(WeightedQuantile(life, std::vector<double>{0, 0, 0, 0}, 0.5).has_value());
}

TEST(Diversity, TopShareAndQuantile) {
  std::vector<double> v(100, 1.0);
  v[7] = 101;  // top 1% (one value) holds 101 of 200
  EXPECT_DOUBLE_EQ(TopShare(v, 0.01), 101.0 / 200);
  EXPECT_DOUBLE_EQ(TopShare(std::vector<double>{0, 0}, 0.5), 0);
  EXPECT_DOUBLE_EQ(Quantile({1, 2, 3, 4, 5}, 0.5), 3);
  EXPECT_DOUBLE_EQ(Quantile({0, 10}, 0.9), 9);
  EXPECT_EQ(Quantile({}, 0.5), 0);
}

TEST(Diversity, PrincipalAxesFindTheSpreadDirections) {
  // Points spread 3 units along axis 2 and 1 along axis 0, none on 1 or 3.
  std::vector<float> rows;
  for (int i = -5; i <= 5; ++i) {
    rows.insert(rows.end(), {0.2f * (i % 2 ? 1 : -1), 0, 0.6f * i, 0});
  }
  double explained = 0;
  const Axes a = PrincipalAxes(rows, 4, 2, &explained);
  ASSERT_EQ(a.axes.size(), 8u);
  EXPECT_NEAR(std::abs(a.axes[2]), 1.0, 1e-9);  // first axis: dimension 2
  EXPECT_NEAR(std::abs(a.axes[4]), 1.0, 1e-9);  // second: dimension 0
  EXPECT_NEAR(explained, 1.0, 1e-9);
  EXPECT_TRUE(PrincipalAxes(std::vector<float>{1, 0, 0, 0}, 4, 2, nullptr).axes.empty());
}

}  // namespace
}  // namespace feedloop::metrics
