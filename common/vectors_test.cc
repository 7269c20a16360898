#include "common/vectors.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

TEST(CheckEmbedding, AcceptsUnitVector) {
  std::vector<float> v = {0.6f, 0.8f};
  EXPECT_OK(CheckEmbedding(v, 2, "e"));
}

TEST(CheckEmbedding, NamesEachProblem) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  std::vector<float> wrong_dim = {1, 0, 0};
  EXPECT_THAT(CheckEmbedding(wrong_dim, 2, "items[1].embedding"),
              StatusIs(kInvalid, HasSubstr("items[1].embedding: has 3 values")));
  std::vector<float> nan = {std::nanf(""), 1};
  EXPECT_THAT(CheckEmbedding(nan, 2, "q"),
              StatusIs(kInvalid, HasSubstr("q[0]: is NaN")));
  std::vector<float> inf = {0, std::numeric_limits<float>::infinity()};
  EXPECT_THAT(CheckEmbedding(inf, 2, "q"),
              StatusIs(kInvalid, HasSubstr("q[1]: is infinite")));
  std::vector<float> zero = {0, 0};
  EXPECT_THAT(CheckEmbedding(zero, 2, "q"),
              StatusIs(kInvalid, HasSubstr("zero vector")));
  std::vector<float> long_vec = {3, 4};
  EXPECT_THAT(CheckEmbedding(long_vec, 2, "q"),
              StatusIs(kInvalid, HasSubstr("norm 5")));
  EXPECT_OK(CheckEmbedding(long_vec, 2, "q", /*require_unit=*/false));
}

TEST(CheckEmbeddingRows, NamesTheRow) {
  std::vector<float> rows = {1, 0, 0, 0};
  EXPECT_THAT(CheckEmbeddingRows(rows, 2, "queries", true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("queries[row 1]: is the zero vector")));
  EXPECT_THAT(CheckEmbeddingRows(rows, 3, "queries", true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a multiple")));
}

TEST(Normalize, UnitNormAndZeroUnchanged) {
  std::vector<double> v = {3, 4};
  EXPECT_TRUE(Normalize(std::span<double>(v)));
  EXPECT_DOUBLE_EQ(v[0], 0.6);
  std::vector<double> z = {0, 0};
  EXPECT_FALSE(Normalize(std::span<double>(z)));
  EXPECT_EQ(z[0], 0);
}

}  // namespace
}  // namespace feedloop
