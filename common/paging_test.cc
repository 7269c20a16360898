#include "common/paging.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

TEST(PageOf, CutsIntoPagesWhoseTokensLeadToTheNext) {
  std::vector<size_t> seen;
  std::string token;
  int pages = 0;
  do {
    ASSERT_OK_AND_ASSIGN(Page page, PageOf(10, token, 4, 100, 1000));
    for (size_t i = page.begin; i < page.end; ++i) seen.push_back(i);
    token = page.next_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);  // 4 + 4 + 2
  std::vector<size_t> all = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(seen, all);
}

TEST(PageOf, DefaultSizeAndEmptyAndPastTheEnd) {
  ASSERT_OK_AND_ASSIGN(Page all, PageOf(7, "", 0, 100, 1000));
  EXPECT_EQ(all.begin, 0u);
  EXPECT_EQ(all.end, 7u);
  EXPECT_EQ(all.next_token, "");
  ASSERT_OK_AND_ASSIGN(Page none, PageOf(0, "", 5, 100, 1000));
  EXPECT_EQ(none.begin, none.end);
  ASSERT_OK_AND_ASSIGN(Page past, PageOf(3, "50", 5, 100, 1000));
  EXPECT_EQ(past.begin, past.end);
  EXPECT_EQ(past.next_token, "");
  // An exact fit has no further page.
  ASSERT_OK_AND_ASSIGN(Page exact, PageOf(8, "4", 4, 100, 1000));
  EXPECT_EQ(exact.end, 8u);
  EXPECT_EQ(exact.next_token, "");
}

TEST(PageOf, RefusesOversizedPagesAndForeignTokens) {
  EXPECT_THAT(PageOf(10, "", 1001, 100, 1000),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page_size")));
  EXPECT_THAT(PageOf(10, "abc", 0, 100, 1000),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page_token")));
  EXPECT_THAT(PageOf(10, "-1", 0, 100, 1000),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

struct FakeRequest {
  std::string token;
  void set_page_token(const std::string& t) { token = t; }
};
struct FakeResponse {
  std::vector<int> values;
  std::string next;
  const std::string& next_page_token() const { return next; }
};

TEST(ForEachPage, FollowsTokensAndStopsOnError) {
  const std::vector<int> data = {1, 2, 3, 4, 5};
  auto call = [&](const FakeRequest& req, FakeResponse* page) -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(Page p, PageOf(data.size(), req.token, 2, 2, 2));
    for (size_t i = p.begin; i < p.end; ++i) page->values.push_back(data[i]);
    page->next = p.next_token;
    return absl::OkStatus();
  };
  std::vector<int> got;
  ASSERT_OK(ForEachPage<FakeResponse>(FakeRequest{}, call, [&](FakeResponse& page) {
    got.insert(got.end(), page.values.begin(), page.values.end());
  }));
  EXPECT_EQ(got, data);

  int calls = 0;
  auto failing = [&](const FakeRequest& req, FakeResponse* page) -> absl::Status {
    if (++calls == 2) return absl::UnavailableError("gone");
    return call(req, page);
  };
  EXPECT_THAT(ForEachPage<FakeResponse>(FakeRequest{}, failing, [](FakeResponse&) {}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace feedloop
