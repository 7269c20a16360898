// The ranker's scenario, as the loop plays a run (docs/plugins.md "One
// round"): open, then for rounds 0 to 2 ingest the round's items, advance,
// rank every user, log and record the feedback, commit; the reward model
// is asked between rounds 0 and 1. Then a round is redone (OpenRun at an
// earlier round), and bad requests are sent. Each requirement is one
// Report line; a failure that later steps build on stops the scenario.

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "conformance/conformance.h"
#include "conformance/scenario.h"
#include "feedloop/v1/ranker.grpc.pb.h"

namespace feedloop::conformance {
namespace {

using internal::Call;
using internal::ExpectCode;
using internal::Problem;
using internal::kDim;
using internal::kItemsPerRound;
using internal::kSlateSize;
using internal::kTtlRounds;
using internal::kUsers;

using Stub = v1::RankerService::Stub;

std::string SlatesText(const std::vector<v1::Slate>& slates) {
  std::string out;
  for (const v1::Slate& s : slates) {
    absl::StrAppend(&out, s.user_id(), ":");
    for (uint64_t id : s.item_ids()) absl::StrAppend(&out, " ", id);
    absl::StrAppend(&out, ";");
  }
  return out;
}

class RankerScenario {
 public:
  RankerScenario(std::shared_ptr<grpc::Channel> channel, store::StoreClient& store,
                 const Options& options)
      : stub_(v1::RankerService::NewStub(std::move(channel))),
        store_(store),
        options_(options),
        config_(internal::ScenarioConfig(options.seed)) {}

  absl::StatusOr<Report> Run() {
    FEEDLOOP_RETURN_IF_ERROR(internal::PlayInRun(store_, config_, options_, "ranker", &run_,
                                                 &rounds_done_, [this] { return Play(); }));
    return std::move(report_);
  }

 private:
  // Plays the scenario; an error only for what is not the ranker's doing.
  absl::Status Play() {
    for (uint32_t r = 0; r < 3; ++r) items_.push_back(internal::ScenarioItems(options_.seed, r));
    if (!Open()) return absl::OkStatus();
    for (uint32_t r = 0; r < 3; ++r) {
      FEEDLOOP_ASSIGN_OR_RETURN(bool go_on, PlayRound(r));
      if (!go_on) return absl::OkStatus();
      if (r == 0) CheckScoreItems(1);
    }
    CheckInOrder();
    CheckRedo();
    CheckBadInput();
    v1::CloseRunRequest close;
    close.set_run_id(run_);
    v1::CloseRunResponse closed;
    report_.Add("ranker.close", "CloseRun of an open run succeeds",
                Call(stub_.get(), &Stub::CloseRun, close, &closed, options_.call_deadline,
                     "CloseRun"));
    return absl::OkStatus();
  }

  absl::Status OpenAt(uint32_t round, v1::RankerRunState* state) {
    v1::OpenRunRequest open;
    open.set_run_id(run_);
    *open.mutable_config() = config_;
    open.set_round(round);
    return Call(stub_.get(), &Stub::OpenRun, open, state, options_.call_deadline,
                absl::StrCat("OpenRun(round ", round, ")"));
  }

  absl::Status Advance(uint32_t round, v1::RankerRunState* state) {
    v1::AdvanceRoundRequest advance;
    advance.set_run_id(run_);
    advance.set_round(round);
    return Call(stub_.get(), &Stub::AdvanceRound, advance, state, options_.call_deadline,
                absl::StrCat("AdvanceRound(", round, ")"));
  }

  absl::Status Rank(const std::string& run_id, uint32_t round, std::span<const uint32_t> users,
                    uint32_t slate_size, std::vector<v1::Slate>* out) {
    v1::RankBatchRequest request;
    request.set_run_id(run_id);
    request.set_round(round);
    request.set_slate_size(slate_size);
    for (uint32_t u : users) request.add_users()->set_user_id(u);
    v1::RankBatchResponse response;
    FEEDLOOP_RETURN_IF_ERROR(Call(stub_.get(), &Stub::RankBatch, request, &response,
                                  options_.call_deadline,
                                  absl::StrCat("RankBatch(round ", round, ")")));
    out->assign(response.slates().begin(), response.slates().end());
    return absl::OkStatus();
  }

  static std::vector<uint32_t> AllUsers() {
    std::vector<uint32_t> users(kUsers);
    for (uint32_t u = 0; u < kUsers; ++u) users[u] = u;
    return users;
  }

  bool Open() {
    v1::RankerRunState state;
    if (!report_.Add("ranker.open", "OpenRun(round 0) of a new run succeeds",
                     OpenAt(0, &state))) {
      report_.Stop("OpenRun failed");
      return false;
    }
    report_.Add("ranker.open_idempotent",
                "OpenRun(round 0) again (a retry) succeeds", OpenAt(0, &state));
    return true;
  }

  // Items live at `round` after AdvanceRound(round): rounds
  // (round - item_ttl_rounds, round].
  uint64_t LiveAt(uint32_t round) const {
    const uint32_t first = round + 1 >= kTtlRounds ? round + 1 - kTtlRounds : 0;
    return uint64_t{kItemsPerRound} * (round - first + 1);
  }

  absl::StatusOr<bool> PlayRound(uint32_t r) {
    FEEDLOOP_RETURN_IF_ERROR(Annotate(store_.Ingest(run_, items_[r]),
                                      "writing the scenario's items to the store"));
    v1::RankerRunState state;
    if (!report_.Add("ranker.advance",
                     "AdvanceRound(r) succeeds once round r's items are in the store",
                     Advance(r, &state))) {
      report_.Stop(absl::StrCat("AdvanceRound(", r, ") failed"));
      return false;
    }
    CheckIndexed(r, state, "ranker.index",
                 "AdvanceRound(r) reads round r's items from the store and expires those "
                 "past ranker.item_ttl_rounds (its answer's round and live_items)");
    v1::RankerRunState again;
    absl::Status retry = Advance(r, &again);
    if (retry.ok() && again.live_items() != state.live_items()) {
      retry = Problem(absl::StrCat("the retry changed live_items from ", state.live_items(),
                                   " to ", again.live_items()));
    }
    report_.Add("ranker.advance_retry",
                "AdvanceRound(r) again (a retry) succeeds and changes nothing",
                retry);

    std::vector<v1::Slate> slates;
    if (!report_.Add("ranker.rank", "RankBatch(round r) of every user succeeds",
                     Rank(run_, r, AllUsers(), 0, &slates))) {
      report_.Stop(absl::StrCat("RankBatch(round ", r, ") failed"));
      return false;
    }
    if (!CheckSlates(r, AllUsers(), kSlateSize, slates, r)) {
      // The loop fails a round on such slates; users cannot consume them.
      report_.Stop(absl::StrCat("round ", r, "'s slates cannot be consumed"));
      return false;
    }
    CheckRankStable(r, slates);
    slates_.push_back(slates);

    const std::vector<v1::Interaction> xs = internal::InteractionsOf(options_.seed, r, slates);
    FEEDLOOP_RETURN_IF_ERROR(Annotate(store_.LogInteractions(run_, r, xs),
                                      "writing the scenario's interactions to the store"));
    v1::RecordFeedbackRequest feedback;
    feedback.set_run_id(run_);
    feedback.set_round(r);
    feedback.mutable_interactions()->Assign(xs.begin(), xs.end());
    v1::RecordFeedbackResponse recorded;
    const std::string what = absl::StrCat("RecordFeedback(round ", r, ")");
    if (!report_.Add("ranker.feedback", "RecordFeedback(round r) succeeds",
                     Call(stub_.get(), &Stub::RecordFeedback, feedback, &recorded,
                          options_.call_deadline, what))) {
      report_.Stop(absl::StrCat(what, " failed"));
      return false;
    }
    // Applied once: the repeat is refused (ALREADY_EXISTS) or applies
    // nothing, and what the ranker predicts does not move.
    std::vector<float> before, after;
    const absl::Status scored = ScoreAllUsers(r + 1, &before);
    v1::RecordFeedbackResponse repeated;
    const absl::Status repeat = Call(stub_.get(), &Stub::RecordFeedback, feedback, &repeated,
                                     options_.call_deadline, what);
    absl::Status once = ExpectCode(repeat, {absl::StatusCode::kAlreadyExists, absl::StatusCode::kOk},
                                   absl::StrCat("the repeated ", what));
    if (once.ok() && repeat.ok() && repeated.applied() > 0) {
      once = Problem(absl::StrCat("the repeated ", what, " answered OK with applied ",
                                  repeated.applied(), ": the round's feedback was applied twice"));
    }
    if (once.ok() && scored.ok() && ScoreAllUsers(r + 1, &after).ok() && after != before) {
      once = Problem(absl::StrCat("ScoreItems(round ", r + 1, ") changed after the repeated ",
                                  what, ": the round's feedback was applied twice"));
    }
    report_.Add("ranker.feedback_once",
                "RecordFeedback(round r) again (a retry after a lost reply) answers "
                "ALREADY_EXISTS, or OK with nothing applied, and changes nothing",
                once);
    FEEDLOOP_RETURN_IF_ERROR(
        Annotate(internal::Commit(store_, run_, r, ""), "committing the scenario's round"));
    rounds_done_ = r + 1;
    return true;
  }

  void CheckIndexed(uint32_t r, const v1::RankerRunState& state, const std::string& id,
                    const std::string& requirement) {
    absl::Status s;
    if (state.round() != r || state.live_items() != LiveAt(r)) {
      s = Problem(absl::StrCat(
          "answered round ", state.round(), " with ", state.live_items(),
          " live items; expected round ", r, " with ", LiveAt(r), " (", kItemsPerRound,
          " items a round, ranker.item_ttl_rounds ", kTtlRounds, ")",
          state.live_items() < LiveAt(r)
              ? absl::StrCat(": round ", r, "'s items were not indexed from the store")
              : ": items past their time to live were not expired"));
    }
    report_.Add(id, requirement, s);
  }

  // The item's round, or nullopt when it is none of the scenario's.
  static std::optional<uint32_t> RoundOfItem(uint64_t id) {
    const uint64_t r = id >> 32, i = id & 0xffffffffu;
    if (r >= 3 || i == 0 || i > kItemsPerRound) return std::nullopt;
    return static_cast<uint32_t>(r);
  }

  // Slates for `users` at `round` (whose newest published round is
  // `published`): shape, uniqueness and liveness. Returns whether users
  // could consume them (one per user, in order, live and distinct items).
  bool CheckSlates(uint32_t round, std::span<const uint32_t> users, uint32_t slate_size,
                   const std::vector<v1::Slate>& slates, uint32_t published) {
    absl::Status order;
    if (slates.size() != users.size()) {
      order = Problem(absl::StrCat(users.size(), " users asked, ", slates.size(), " slates answered"));
    } else {
      for (size_t i = 0; i < users.size() && order.ok(); ++i) {
        if (slates[i].user_id() != users[i]) {
          order = Problem(absl::StrCat("slate ", i, " is for user ", slates[i].user_id(),
                                       "; user ", users[i], " was asked there"));
        }
      }
    }
    report_.Add("ranker.slate_order", "RankBatch answers one slate per user, in the order asked",
                order);
    absl::Status size, unique, live, scores;
    for (const v1::Slate& s : slates) {
      const std::string whose = absl::StrCat("round ", round, ": the slate of user ", s.user_id());
      if (size.ok() && (s.item_ids_size() == 0 || s.item_ids_size() > static_cast<int>(slate_size))) {
        size = Problem(absl::StrCat(whose, " holds ", s.item_ids_size(), " items; asked for ",
                                    slate_size, ", with ", LiveAt(published), " items live"));
      }
      absl::flat_hash_set<uint64_t> seen;
      for (uint64_t id : s.item_ids()) {
        if (unique.ok() && !seen.insert(id).second) {
          unique = Problem(absl::StrCat(whose, " holds item ", id, " twice"));
        }
        const std::optional<uint32_t> r = RoundOfItem(id);
        if (!live.ok()) continue;
        if (!r.has_value()) {
          live = Problem(absl::StrCat(whose, " holds item ", id,
                                      ", which is not an item of this run"));
        } else if (*r > published) {
          live = Problem(absl::StrCat(whose, " holds item ", id, " of round ", *r,
                                      ", which is not published yet"));
        } else if (*r + kTtlRounds <= published) {
          live = Problem(absl::StrCat(whose, " holds item ", id, " of round ", *r,
                                      ", which expired at round ", *r + kTtlRounds,
                                      " (ranker.item_ttl_rounds ", kTtlRounds, ")"));
        }
      }
      if (scores.ok() && s.scores_size() != s.item_ids_size()) {
        scores = Problem(absl::StrCat(whose, " has ", s.item_ids_size(), " items and ",
                                      s.scores_size(), " scores"));
      }
    }
    report_.Add("ranker.slate_size",
                "every slate holds between 1 and slate_size items (0: users.slate_size) "
                "while items are live",
                size);
    report_.Add("ranker.slate_unique", "no item appears twice in a slate", unique);
    report_.Add("ranker.live_ids", "slates hold only items of the run that are live in the round",
                live);
    report_.Add("ranker.slate_scores", "each slate has one score per item (parallel arrays)",
                scores, Level::kRecommended);
    return order.ok() && unique.ok() && live.ok();
  }

  // The same request again, a smaller slate_size, and the users in other
  // batches.
  void CheckRankStable(uint32_t r, const std::vector<v1::Slate>& slates) {
    std::vector<v1::Slate> small;
    absl::Status s = Rank(run_, r, AllUsers(), 2, &small);
    if (s.ok()) {
      for (const v1::Slate& slate : small) {
        if (slate.item_ids_size() > 2) {
          s = Problem(absl::StrCat("round ", r, ": slate_size 2 answered ", slate.item_ids_size(),
                                   " items for user ", slate.user_id()));
          break;
        }
      }
    }
    report_.Add("ranker.slate_size_asked", "RankBatch honours the request's slate_size", s);

    std::vector<v1::Slate> again;
    s = Rank(run_, r, AllUsers(), 0, &again);
    if (s.ok() && SlatesText(again) != SlatesText(slates)) {
      s = Problem(absl::StrCat("round ", r, ": the same RankBatch answered other slates"));
    }
    report_.Add("ranker.rank_deterministic",
                "RankBatch answers the same slates to the same request", s, Level::kRecommended);

    // Users in reverse order, in two batches.
    std::vector<uint32_t> second, first;
    for (uint32_t u = kUsers; u-- > kUsers / 2;) second.push_back(u);
    for (uint32_t u = kUsers / 2; u-- > 0;) first.push_back(u);
    std::vector<v1::Slate> a, b;
    s = Rank(run_, r, second, 0, &a);
    if (s.ok()) s = Rank(run_, r, first, 0, &b);
    if (s.ok()) {
      absl::flat_hash_map<uint32_t, std::string> by_user;
      for (const auto* part : {&a, &b}) {
        for (const v1::Slate& slate : *part) by_user[slate.user_id()] = SlatesText({slate});
      }
      for (const v1::Slate& slate : slates) {
        if (by_user[slate.user_id()] != SlatesText({slate})) {
          s = Problem(absl::StrCat("round ", r, ": user ", slate.user_id(),
                                   "'s slate depends on which users share its batch"));
          break;
        }
      }
    }
    report_.Add("ranker.rank_batching",
                "a user's slate does not depend on how the loop batches users", s,
                Level::kRecommended);
  }

  // Round 0's items scored over every user, by name: what the feedback so
  // far predicts.
  absl::Status ScoreAllUsers(uint32_t round, std::vector<float>* scores) {
    std::vector<float> rows;
    for (const v1::Item& item : items_[0]) {
      rows.insert(rows.end(), item.embedding().begin(), item.embedding().end());
    }
    return Score(round, rows, kDim, scores, AllUsers());
  }

  absl::Status Score(uint32_t round, const std::vector<float>& rows, uint32_t dim,
                     std::vector<float>* scores, std::span<const uint32_t> users = {}) {
    v1::ScoreItemsRequest request;
    for (uint32_t u : users) request.add_user_ids(u);
    request.set_run_id(run_);
    request.set_round(round);
    request.set_dim(dim);
    request.mutable_candidates()->Assign(rows.begin(), rows.end());
    request.set_sample_users(10);
    request.set_seed(3);
    v1::ScoreItemsResponse response;
    FEEDLOOP_RETURN_IF_ERROR(Call(stub_.get(), &Stub::ScoreItems, request, &response,
                                  options_.call_deadline,
                                  absl::StrCat("ScoreItems(round ", round, ")")));
    scores->assign(response.scores().begin(), response.scores().end());
    return absl::OkStatus();
  }

  void CheckScoreItems(uint32_t round) {
    std::vector<float> rows;
    for (const v1::Item& item : internal::ScenarioItems(options_.seed + 99, 0)) {
      if (rows.size() == 5 * kDim) break;
      rows.insert(rows.end(), item.embedding().begin(), item.embedding().end());
    }
    std::vector<float> scores;
    absl::Status s = Score(round, rows, kDim, &scores);
    if (s.ok() && scores.size() != 5) {
      s = Problem(absl::StrCat("5 rows asked, ", scores.size(), " scores answered"));
    }
    for (size_t i = 0; s.ok() && i < scores.size(); ++i) {
      if (!std::isfinite(scores[i]) || scores[i] < 0 || scores[i] > 1) {
        s = Problem(absl::StrCat("row ", i, " scored ", scores[i], ", outside [0, 1]"));
      }
    }
    if (!report_.Add("ranker.score",
                     "ScoreItems answers one score in [0, 1] per candidate row", s)) {
      return;
    }
    std::vector<float> again, alone;
    s = Score(round, rows, kDim, &again);
    if (s.ok() && again != scores) s = Problem("the same ScoreItems answered other scores");
    report_.Add("ranker.score_deterministic",
                "ScoreItems answers the same scores to the same request", s, Level::kRecommended);
    s = Score(round, std::vector<float>(rows.begin() + 3 * kDim, rows.begin() + 4 * kDim), kDim,
              &alone);
    if (s.ok() && (alone.size() != 1 || std::fabs(alone[0] - scores[3]) > 1e-5f)) {
      s = Problem(absl::StrCat("row 3 scored ", scores[3], " among 5 rows and ",
                               alone.empty() ? NAN : alone[0], " alone"));
    }
    report_.Add("ranker.score_rows_alone",
                "each row is scored alone (the generator splits rows over calls as it likes)", s,
                Level::kRecommended);
    // Bad shapes.
    std::vector<float> ignored;
    report_.Add("ranker.score_bad_dim",
                "ScoreItems with a dim other than the run's answers INVALID_ARGUMENT",
                ExpectCode(Score(round, std::vector<float>(rows.begin(), rows.begin() + 35), 7,
                                 &ignored),
                           {absl::StatusCode::kInvalidArgument}, "ScoreItems with dim 7"));
    report_.Add("ranker.score_bad_rows",
                "ScoreItems whose floats are not whole rows of dim answers INVALID_ARGUMENT",
                ExpectCode(Score(round, std::vector<float>(rows.begin(), rows.begin() + 13), kDim,
                                 &ignored),
                           {absl::StatusCode::kInvalidArgument},
                           "ScoreItems with 13 floats of dim 8"));
  }

  void CheckInOrder() {
    v1::RankerRunState state;
    report_.Add("ranker.advance_in_order",
                "AdvanceRound past the next round is refused (rounds advance one at a time)",
                ExpectCode(Advance(4, &state),
                           {absl::StatusCode::kFailedPrecondition,
                            absl::StatusCode::kInvalidArgument, absl::StatusCode::kOutOfRange},
                           "AdvanceRound(4) at round 2"));
  }

  // Round 1 redone while the ranker is at round 2.
  void CheckRedo() {
    v1::RankerRunState state;
    if (!report_.Add("ranker.reopen",
                     "OpenRun(round 1) while the run is at round 2 (a round redone) succeeds",
                     OpenAt(1, &state))) {
      return;
    }
    absl::Status s = Advance(1, &state);
    if (!s.ok()) {
      report_.Add("ranker.rebuild", "AdvanceRound(1) after OpenRun(round 1) succeeds", s);
      return;
    }
    CheckIndexed(1, state, "ranker.rebuild",
                 "OpenRun(round 1) rebuilds the run as it was at the start of round 1, "
                 "from the store (round 2's items gone, round 0's live again)");
    std::vector<v1::Slate> slates;
    s = Rank(run_, 1, AllUsers(), 0, &slates);
    if (!report_.Add("ranker.rank_after_rebuild", "RankBatch(round 1) after the rebuild succeeds",
                     s)) {
      return;
    }
    absl::Status live;
    for (const v1::Slate& slate : slates) {
      for (uint64_t id : slate.item_ids()) {
        if (live.ok() && RoundOfItem(id) == 2u) {
          live = Problem(absl::StrCat("the slate of user ", slate.user_id(), " holds item ", id,
                                      " of round 2, which round 1 has not published"));
        }
      }
    }
    report_.Add("ranker.rebuild_live", "after the rebuild, slates hold no item of later rounds",
                live);
    report_.Add("ranker.replay_deterministic",
                "the redone round answers the slates it answered the first time",
                SlatesText(slates) == SlatesText(slates_[1])
                    ? absl::OkStatus()
                    : Problem("round 1 redone from the store answered other slates"),
                Level::kRecommended);
  }

  void CheckBadInput() {
    std::vector<v1::Slate> slates;
    const std::string unknown = absl::StrCat(options_.run_prefix, "-no-such-run-",
                                             absl::ToUnixMillis(absl::Now()));
    report_.Add("ranker.unknown_run", "RankBatch of a run the store does not know answers NOT_FOUND",
                ExpectCode(Rank(unknown, 0, AllUsers(), 0, &slates),
                           {absl::StatusCode::kNotFound}, "RankBatch of an unknown run"));
    const uint32_t outside[] = {kUsers};
    report_.Add("ranker.bad_user",
                "RankBatch of a user id past users.count answers INVALID_ARGUMENT",
                ExpectCode(Rank(run_, 1, outside, 0, &slates), {absl::StatusCode::kInvalidArgument},
                           absl::StrCat("RankBatch of user ", kUsers, " (", kUsers, " users)")));
    std::vector<uint32_t> many(10001, 0);
    report_.Add("ranker.too_many_users",
                "RankBatch of more than 10000 users answers INVALID_ARGUMENT",
                ExpectCode(Rank(run_, 1, many, 0, &slates), {absl::StatusCode::kInvalidArgument},
                           "RankBatch of 10001 users"));
    v1::OpenRunRequest bad;
    bad.set_run_id(run_);
    *bad.mutable_config() = config_;
    bad.mutable_config()->mutable_space()->set_dim(0);
    v1::RankerRunState state;
    report_.Add("ranker.bad_config", "OpenRun of a config with space.dim 0 answers INVALID_ARGUMENT",
                ExpectCode(Call(stub_.get(), &Stub::OpenRun, bad, &state, options_.call_deadline,
                                "OpenRun"),
                           {absl::StatusCode::kInvalidArgument}, "OpenRun with space.dim 0"));
    report_.Add("ranker.alive", "after the bad requests, RankBatch(round 1) still succeeds",
                Rank(run_, 1, AllUsers(), 0, &slates));
  }

  std::unique_ptr<Stub> stub_;
  store::StoreClient& store_;
  const Options options_;
  const v1::ExperimentConfig config_;
  std::string run_;
  uint32_t rounds_done_ = 0;
  std::vector<std::vector<v1::Item>> items_;    // by round
  std::vector<std::vector<v1::Slate>> slates_;  // by round, as first ranked
  Report report_;
};

}  // namespace

absl::StatusOr<Report> CheckRanker(std::shared_ptr<grpc::Channel> ranker,
                                   store::StoreClient& store, const Options& options) {
  return RankerScenario(std::move(ranker), store, options).Run();
}

}  // namespace feedloop::conformance
