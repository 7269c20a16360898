#include "config/config.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop::config {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(Config, DefaultsAreValidAndComeFromTheSchema) {
  v1::ExperimentConfig config;
  EXPECT_OK(ValidateConfig(config));
  EXPECT_EQ(config.space().dim(), 32u);
  EXPECT_EQ(config.users().count(), 5000u);
  EXPECT_EQ(config.ranker().index(), v1::RankerConfig::FLAT);
}

TEST(Config, ParsesTextFormat) {
  ASSERT_OK_AND_ASSIGN(auto config,
                       ParseConfig("rounds: 7 generator { alpha: 0.25 }", "t"));
  EXPECT_EQ(config.rounds(), 7u);
  EXPECT_DOUBLE_EQ(config.generator().alpha(), 0.25);
}

TEST(Config, UnknownFieldNamesFileLineAndField) {
  EXPECT_THAT(ParseConfig("rounds: 3\ngenerator { alpah: 0.5 }", "x.pbtxt"),
              StatusIs(kInvalid, HasSubstr("x.pbtxt:2:")));
  EXPECT_THAT(ParseConfig("rounds: 3\ngenerator { alpah: 0.5 }", "x.pbtxt"),
              StatusIs(kInvalid, HasSubstr("alpah")));
  EXPECT_THAT(LoadConfigFile("/nonexistent/c.pbtxt"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("c.pbtxt")));
}

// A binary config (StartRun's) can carry what text parsing refuses: an
// enum number no value has, or a field this version does not know.
TEST(Config, UnknownEnumValuesAndUnknownFieldsAreRefused) {
  v1::ExperimentConfig c;
  c.mutable_ranker()->set_index(static_cast<v1::RankerConfig::IndexType>(99));
  EXPECT_THAT(ValidateConfig(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("ranker.index: 99 is not a value")));
  v1::ExperimentConfig d;
  std::string bytes = d.SerializeAsString();
  bytes += std::string("\xb8\x3e\x01", 3);  // field 999, varint 1
  v1::ExperimentConfig parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_THAT(ValidateConfig(parsed),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field number 999")));
  // In a nested message, the path names it.
  v1::ExperimentConfig e;
  std::string users = e.users().SerializeAsString() + std::string("\xb8\x3e\x01", 3);
  ASSERT_TRUE(e.mutable_users()->ParseFromString(users));
  EXPECT_THAT(ValidateConfig(e), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("users: has 1 field")));
  EXPECT_OK(ValidateConfig(v1::ExperimentConfig()));
}

TEST(Config, ScoringUsersTimesDimIsBoundedAsScoreItemsIs) {
  v1::ExperimentConfig c;
  c.mutable_space()->set_dim(4096);
  c.mutable_users()->set_count(100000);
  c.mutable_generator()->set_reward_users(4096);  // 2^24 floats: the limit
  EXPECT_OK(ValidateConfig(c));
  c.mutable_generator()->set_reward_users(4097);
  EXPECT_THAT(ValidateConfig(c),
              StatusIs(kInvalid, HasSubstr("generator.reward_users x space.dim must be at most")));
  c.mutable_users()->set_count(4096);  // only 4096 users to sample
  EXPECT_OK(ValidateConfig(c));
}

TEST(Config, OutOfRangeNamesThePath) {
  v1::ExperimentConfig c;
  c.mutable_generator()->set_alpha(1.5);
  EXPECT_THAT(ValidateConfig(c),
              StatusIs(kInvalid, HasSubstr("generator.alpha: must be in [0, 1], got 1.5")));
  c = {};
  c.mutable_users()->set_attention(11);  // > slate_size 10
  EXPECT_THAT(ValidateConfig(c), StatusIs(kInvalid, HasSubstr("users.attention")));
  c = {};
  c.mutable_ranker()->set_candidates(5);  // < slate_size
  EXPECT_THAT(ValidateConfig(c), StatusIs(kInvalid, HasSubstr("ranker.candidates")));
  c = {};
  c.mutable_generator()->set_ai_share(1.0);
  EXPECT_THAT(ValidateConfig(c), StatusIs(kInvalid, HasSubstr("generator.ai_share")));
  c = {};
  c.mutable_users()->set_position_decay(std::nan(""));
  EXPECT_THAT(ValidateConfig(c), StatusIs(kInvalid, HasSubstr("users.position_decay")));
}

TEST(Config, KeyMetricsMustBeCurrentCatalogNames) {
  v1::ExperimentConfig c;
  c.mutable_metrics()->add_key_metrics("content.vendi");
  EXPECT_OK(ValidateConfig(c));
  c.mutable_metrics()->add_key_metrics("content.vendy");
  EXPECT_THAT(ValidateConfig(c),
              StatusIs(kInvalid, HasSubstr("metrics.key_metrics[1]: 'content.vendy' is not")));
  c.mutable_metrics()->set_key_metrics(1, "exposure.gini_items");
  EXPECT_THAT(ValidateConfig(c),
              StatusIs(kInvalid, HasSubstr("is retired; use exposure.gini_shown")));
}

TEST(Config, SetFieldParsesEachType) {
  v1::ExperimentConfig c;
  ASSERT_OK(SetField(&c, "generator.alpha", "0.75"));
  EXPECT_DOUBLE_EQ(c.generator().alpha(), 0.75);
  ASSERT_OK(SetField(&c, "users.count", "42"));
  EXPECT_EQ(c.users().count(), 42u);
  ASSERT_OK(SetField(&c, "ranker.index", "HNSW"));
  EXPECT_EQ(c.ranker().index(), v1::RankerConfig::HNSW);
  ASSERT_OK(SetField(&c, "ranker.allow_cold_start", "false"));
  EXPECT_FALSE(c.ranker().allow_cold_start());
  EXPECT_THAT(SetField(&c, "generator.alfa", "1"),
              StatusIs(kInvalid, HasSubstr("no 'alfa'")));
  EXPECT_THAT(SetField(&c, "generator", "1"),
              StatusIs(kInvalid, HasSubstr("section")));
  EXPECT_THAT(SetField(&c, "ranker.index", "BTREE"),
              StatusIs(kInvalid, HasSubstr("BTREE")));
  EXPECT_THAT(SetField(&c, "users.count", "-3"),
              StatusIs(kInvalid, HasSubstr("-3")));
}

TEST(Config, ExpandsSweepWithReplicateSeeds) {
  ASSERT_OK_AND_ASSIGN(auto c, ParseConfig(R"(
      seed: 9
      sweep { parameter: "generator.alpha" values: ["0", "0.5", "1"] replicates: 2 })",
                                           "t"));
  ASSERT_OK_AND_ASSIGN(auto runs, ExpandSweep(c));
  ASSERT_EQ(runs.size(), 6u);
  std::set<uint64_t> seeds;
  for (const RunSpec& r : runs) {
    EXPECT_FALSE(r.config.has_sweep());
    EXPECT_DOUBLE_EQ(r.config.generator().alpha(), r.sweep_point * 0.5);
    seeds.insert(r.config.seed());
  }
  EXPECT_EQ(seeds.size(), 2u);  // replicates share seeds across points
  EXPECT_EQ(runs[0].config.seed(), 9u);
  EXPECT_EQ(runs[2].sweep_value, "0.5");

  c.mutable_sweep()->add_values("2");  // alpha = 2 is out of range
  EXPECT_THAT(ExpandSweep(c), StatusIs(kInvalid, HasSubstr("sweep.values[3] = '2'")));
  c.mutable_sweep()->set_parameter("sweep.replicates");
  EXPECT_THAT(ExpandSweep(c), StatusIs(kInvalid, HasSubstr("sweep.parameter")));
}

}  // namespace
}  // namespace feedloop::config
