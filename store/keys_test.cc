#include "store/keys.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop::store {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

TEST(Keys, ByteOrderIsNumericOrder) {
  EXPECT_LT(ItemKey("r", 1, 999), ItemKey("r", 2, 1));
  EXPECT_LT(ItemKey("r", 255, 1), ItemKey("r", 256, 1));
  EXPECT_LT(ItemKey("r", 3, 255), ItemKey("r", 3, 256));
  EXPECT_LT(MetricKey("r", "a.b", 9), MetricKey("r", "a.b", 10));
  // A metric that extends another's name sorts after all of the shorter
  // name's rounds, thanks to the '\0' separator.
  EXPECT_LT(MetricKey("r", "a", 0xffffffff), MetricKey("r", "a.b", 0));
}

TEST(Keys, RunsDoNotShareKeyRanges) {
  // "ab" must not fall inside run "a"'s range (length prefix).
  const std::string a = RunPrefix("a");
  const std::string ab = RunPrefix("ab");
  EXPECT_FALSE(ab.compare(0, a.size(), a) == 0);
  EXPECT_LT(ItemKey("a", 0xffffffff, ~0ull), PrefixEnd(a));
}

TEST(Keys, PrefixEndBoundsEveryExtension) {
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  const std::string p = RunPrefix("run");
  EXPECT_LT(p + std::string(20, '\xff'), PrefixEnd(p));
}

TEST(Keys, ParsesWhatItWrites) {
  const std::string p = RunPrefix("run-1");
  InteractionKeyParts parts;
  const std::string k = InteractionKey("run-1", 7, 12345, 3);
  ASSERT_TRUE(ParseInteractionSuffix(absl::string_view(k).substr(p.size()),
                                     &parts));
  EXPECT_EQ(parts.round, 7u);
  EXPECT_EQ(parts.user, 12345u);
  EXPECT_EQ(parts.position, 3u);

  std::string metric;
  uint32_t round = 0;
  const std::string m = MetricKey("run-1", "content.vendi", 42);
  ASSERT_TRUE(
      ParseMetricSuffix(absl::string_view(m).substr(p.size()), &metric, &round));
  EXPECT_EQ(metric, "content.vendi");
  EXPECT_EQ(round, 42u);

  for (double v : {0.0, -1.5, 3.25e300, 1e-300}) {
    EXPECT_EQ(DecodeDouble(EncodeDouble(v)), v);
  }
}

TEST(Keys, MetricValuesAndAbsencesRoundTrip) {
  v1::MetricValue v, back;
  v.set_value(-0.125);
  ASSERT_TRUE(DecodeMetricValue(EncodeMetricValue(v), &back));
  EXPECT_EQ(back.value(), -0.125);
  EXPECT_TRUE(back.absent().empty());
  // The first wave's records are bare doubles: they read unchanged.
  ASSERT_TRUE(DecodeMetricValue(EncodeDouble(3.5), &back));
  EXPECT_EQ(back.value(), 3.5);
  v.set_value(0);
  v.set_absent("nobody engaged this round");
  ASSERT_TRUE(DecodeMetricValue(EncodeMetricValue(v), &back));
  EXPECT_EQ(back.absent(), "nobody engaged this round");
  EXPECT_FALSE(DecodeMetricValue("short", &back));
  EXPECT_FALSE(DecodeMetricValue(EncodeDouble(1) + "x", &back));
}

TEST(Keys, ValidatesRunIdsAndMetricNames) {
  EXPECT_OK(ValidateRunId("sweep-1.run_02"));
  EXPECT_THAT(ValidateRunId(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("run_id")));
  EXPECT_THAT(ValidateRunId("a/b"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'a/b'")));
  EXPECT_THAT(ValidateRunId(std::string(65, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64")));
  EXPECT_OK(ValidateMetricName("exposure.gini_items", "m"));
  EXPECT_THAT(ValidateMetricName("Bad Name", "values[0].name"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("values[0].name")));
}

}  // namespace
}  // namespace feedloop::store
