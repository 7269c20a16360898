#include "config/cost.h"

#include "absl/strings/match.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop::config {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

const MemoryTerm* Term(const MemoryEstimate& e, absl::string_view prefix) {
  for (const MemoryTerm& t : e.terms) {
    if (absl::StartsWith(t.what, prefix)) return &t;
  }
  return nullptr;
}

TEST(Cost, LiveItemsFollowGrowthAndLifetime) {
  v1::ExperimentConfig c;
  c.set_rounds(10);
  c.mutable_creators()->set_count(10);
  c.mutable_creators()->set_items_per_round(10);
  c.mutable_ranker()->set_item_ttl_rounds(3);
  EXPECT_EQ(ItemsInRound(c, 0), 100u);
  EXPECT_EQ(PeakLiveItems(c), 300u);  // three rounds of 100
  c.mutable_generator()->set_volume_growth(2);
  EXPECT_EQ(ItemsInRound(c, 3), 800u);
  // The last three rounds: 100 x (2^7 + 2^8 + 2^9).
  EXPECT_EQ(PeakLiveItems(c), 100u * (128 + 256 + 512));
  c.mutable_generator()->set_volume_growth(0.5);
  EXPECT_EQ(PeakLiveItems(c), 100u + 50 + 25);  // the first three
  c.mutable_generator()->set_max_items_per_round(60);
  EXPECT_EQ(PeakLiveItems(c), 60u + 50 + 25);
}

TEST(Cost, TermsScaleWithTheFieldsTheyName) {
  v1::ExperimentConfig c;
  const MemoryEstimate base = EstimateRunMemory(c, Service::kRanker);
  c.mutable_users()->set_count(c.users().count() * 4);
  const MemoryEstimate users = EstimateRunMemory(c, Service::kRanker);
  const MemoryTerm* before = Term(base, "users.count x space.dim");
  const MemoryTerm* after = Term(users, "users.count x space.dim");
  ASSERT_NE(before, nullptr);
  ASSERT_NE(after, nullptr);
  EXPECT_NEAR(double(after->bytes) / double(before->bytes), 4.0, 1e-6);
  // Items are not users: the index term stays.
  EXPECT_EQ(Term(base, "live items")->bytes, Term(users, "live items")->bytes);
  // Largest first, and the total is their sum.
  uint64_t sum = 0;
  for (size_t i = 0; i < users.terms.size(); ++i) {
    sum += users.terms[i].bytes;
    if (i > 0) {
      EXPECT_GE(users.terms[i - 1].bytes, users.terms[i].bytes);
    }
  }
  EXPECT_EQ(sum, users.bytes);
  // Switching the seen filter off removes its term, and the memory with it.
  c.mutable_ranker()->set_seen_filter(false);
  EXPECT_EQ(Term(EstimateRunMemory(c, Service::kRanker),
                 "users.count x users.slate_size x ranker.item_ttl_rounds"),
            nullptr);
  // A round's feedback stays: it is one interaction per user and position.
  ASSERT_NE(Term(base, "users.count x users.slate_size (a round's feedback)"), nullptr);
  EXPECT_NEAR(double(Term(users, "users.count x users.slate_size (a round's feedback)")->bytes) /
                  double(Term(base, "users.count x users.slate_size (a round's feedback)")->bytes),
              4.0, 1e-6);
  EXPECT_LT(EstimateRunMemory(c, Service::kRanker).bytes, users.bytes);
}

TEST(Cost, AdmitRefusesWhatCanNeverFitAndWhatDoesNotFitNow) {
  v1::ExperimentConfig huge;
  huge.mutable_users()->set_count(10000000);
  huge.mutable_space()->set_dim(4096);
  ASSERT_OK(ValidateConfig(huge));
  MemoryBudget budget(uint64_t{12} << 30);
  EXPECT_THAT(AdmitRun(huge, Service::kRanker, budget).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("ranker: the run needs an estimated"),
                             HasSubstr("GiB for users.count x space.dim"),
                             HasSubstr("this ranker's memory budget is 12.0 GiB"))));
  EXPECT_EQ(budget.reserved(), 0u);

  v1::ExperimentConfig small;
  const uint64_t one = EstimateRunMemory(small, Service::kLoop).bytes;
  MemoryBudget room(one + one / 2);
  ASSERT_OK_AND_ASSIGN(MemoryBudget::Reservation first, AdmitRun(small, Service::kLoop, room));
  EXPECT_THAT(AdmitRun(small, Service::kLoop, room).status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("held by the runs it serves now; retry")));
  first.Release();
  EXPECT_OK(AdmitRun(small, Service::kLoop, room).status());
}

TEST(Cost, EachServiceCountsItsOwnShare) {
  // Many items, few users: the generator's and the index's terms grow, the
  // loop's users do not.
  v1::ExperimentConfig c;
  c.mutable_users()->set_count(100);
  c.mutable_creators()->set_count(10000);
  c.mutable_creators()->set_items_per_round(100);
  const MemoryEstimate g = EstimateRunMemory(c, Service::kGenerator);
  EXPECT_THAT(g.terms[0].what, HasSubstr("the round's items"));
  const MemoryEstimate r = EstimateRunMemory(c, Service::kRanker);
  EXPECT_THAT(r.terms[0].what, HasSubstr("live items"));
  EXPECT_LT(EstimateRunMemory(c, Service::kStore).bytes, uint64_t{64} << 20);
}

}  // namespace
}  // namespace feedloop::config
