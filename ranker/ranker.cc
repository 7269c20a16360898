#include "ranker/ranker.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/vectors.h"
#include "config/config.h"

namespace feedloop::ranker {
namespace {

// Stream tags for DeriveSeed: every seeded draw of the ranker has its own.
constexpr uint64_t kExploreStream = 0x7a11;
constexpr uint64_t kRandomStream = 0x7a12;
constexpr uint64_t kScoreSampleStream = 0x7a13;
constexpr uint64_t kColdStartStream = 0x7a14;
constexpr uint64_t kTemperatureStream = 0x7a15;

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

absl::StatusOr<std::unique_ptr<Ranker>> Ranker::Create(
    const v1::ExperimentConfig& config, const Options& options) {
  FEEDLOOP_RETURN_IF_ERROR(config::ValidateConfig(config));
  FEEDLOOP_ASSIGN_OR_RETURN(std::unique_ptr<ItemPool> pool,
                            ItemPool::Create(config, options.search_threads));
  return std::unique_ptr<Ranker>(new Ranker(config, options, std::move(pool)));
}

Ranker::Ranker(const v1::ExperimentConfig& config, const Options& options,
               std::unique_ptr<ItemPool> pool)
    : config_(config),
      rc_(config_.ranker()),
      options_(options),
      dim_(config.space().dim()),
      num_users_(config.users().count()),
      policy_(config),
      pool_(std::move(pool)),
      users_(config) {}

// ------------------------------------------------------------ round state

absl::Status Ranker::AdvanceRound(uint32_t round, std::span<const v1::Item> items) {
  ItemPool::NewItems compact;
  FEEDLOOP_RETURN_IF_ERROR(compact.Append(items, round, dim_));
  return AdvanceRound(round, std::move(compact));
}

absl::Status Ranker::AdvanceRound(uint32_t round, ItemPool::NewItems items) {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> expired;
  FEEDLOOP_RETURN_IF_ERROR(pool_->Advance(round, std::move(items), &expired));
  users_.ForgetExpired(expired);
  users_.SetPrior(pool_->MeanVector());
  return absl::OkStatus();
}

// ---------------------------------------------------------------- ranking

void Ranker::CandidatesOf(uint32_t user, std::span<const float> query,
                          const Neighbors* retrieved, uint32_t at_round,
                          std::vector<SlatePolicy::Candidate>* out,
                          double* floor) const {
  out->clear();
  *floor = kNegInf;
  const size_t k = rc_.candidates();
  auto wanted = [&](uint64_t id) {
    return pool_->LiveIn(id, at_round) && !(rc_.seen_filter() && users_.Seen(user, id));
  };
  if (!query.empty() && retrieved != nullptr) {
    for (size_t c = 0; c < retrieved->ids.size() && out->size() < k; ++c) {
      const uint64_t id = retrieved->ids[c];
      if (!wanted(id)) continue;
      out->push_back({id,
                      rc_.weight_relevance() * retrieved->scores[c] +
                          pool_->NonRelevanceScore(id, at_round),
                      pool_->Vector(id)});
      if (out->size() == k) *floor = retrieved->scores[c];
    }
  } else {
    for (uint64_t id : pool_->popular()) {
      if (out->size() >= k) break;
      if (!wanted(id)) continue;
      const double score = pool_->NonRelevanceScore(id, at_round);
      out->push_back({id, score, pool_->Vector(id)});
      if (out->size() == k) *floor = score;
    }
  }
}

namespace {

// Adds the rows of `context` (items entering the same round) to a user's
// candidates as retrieval would: those above `*floor`, keeping the best
// `k` by relevance to `query` (by score when the query is empty, which is
// `new_score` for a new item) and raising `*floor` to the last kept.
void AddContext(std::span<const float> query, std::span<const float> context,
                uint32_t dim, double weight_relevance, double new_score, size_t k,
                std::vector<SlatePolicy::Candidate>* cands, double* floor) {
  if (context.empty() || k == 0) return;
  auto key = [&](const float* vec, double score) {
    return query.empty() ? score : Dot(query, std::span<const float>(vec, dim));
  };
  struct Keyed {
    double key;
    SlatePolicy::Candidate c;
  };
  std::vector<Keyed> all;
  all.reserve(cands->size());
  for (const SlatePolicy::Candidate& c : *cands) all.push_back({key(c.vec, c.score), c});
  bool added = false;
  for (size_t r = 0; r < context.size() / dim; ++r) {
    const float* vec = context.data() + r * dim;
    const double relevance = key(vec, new_score);
    if (relevance <= *floor) continue;
    const double score =
        query.empty() ? new_score : weight_relevance * relevance + new_score;
    all.push_back({relevance, {0, score, vec}});
    added = true;
  }
  if (!added) return;
  std::stable_sort(all.begin(), all.end(),
                   [](const Keyed& a, const Keyed& b) { return a.key > b.key; });
  if (all.size() >= k) {
    all.resize(k);
    *floor = all.back().key;
  }
  cands->clear();
  for (const Keyed& x : all) cands->push_back(x.c);
}

}  // namespace

std::vector<uint64_t> Ranker::RandomUnseen(uint32_t user, size_t count,
                                           const std::vector<uint64_t>& taken,
                                           Rng& rng) const {
  const std::vector<uint64_t>& live = pool_->live_ids();
  std::vector<uint64_t> out;
  if (live.empty() || count == 0) return out;
  const size_t seen = rc_.seen_filter() ? users_.SeenCount(user) : 0;
  const size_t draw = std::min<size_t>(live.size(), count + seen + taken.size());
  for (uint64_t pick : rng.SampleWithoutReplacement(live.size(), draw)) {
    const uint64_t id = live[pick];
    if (rc_.seen_filter() && users_.Seen(user, id)) continue;
    if (std::find(taken.begin(), taken.end(), id) != taken.end()) continue;
    out.push_back(id);
    if (out.size() == count) break;
  }
  return out;
}

void Ranker::RankOne(const v1::UserQuery& query, const Neighbors* retrieved,
                     uint32_t slate_size, v1::Slate* slate) const {
  const uint32_t user = query.user_id();
  const uint32_t round = *pool_->round();
  slate->set_user_id(user);
  if (rc_.variant() == v1::RankerConfig::RANDOM) {
    Rng rng(DeriveSeed(config_.seed(), kRandomStream, round, user));
    for (uint64_t id : RandomUnseen(user, slate_size, {}, rng)) {
      slate->add_item_ids(id);
      slate->add_scores(0.0f);
    }
    return;
  }
  // Cold start: a user the ranker knows nothing about gets random items at
  // the top, so that the first slates differ and feedback is informative.
  std::vector<uint64_t> cold;
  if (rc_.variant() == v1::RankerConfig::LEARNED && !users_.Known(user)) {
    Rng rng(DeriveSeed(config_.seed(), kColdStartStream, round, user));
    cold = RandomUnseen(user, std::min(rc_.cold_start_slots(), slate_size), {}, rng);
  }
  const std::span<const float> q =
      rc_.variant() == v1::RankerConfig::ORACLE ? AsSpan(query.true_interest())
      : rc_.variant() == v1::RankerConfig::LEARNED ? users_.Query(user)
                                                    : std::span<const float>();
  std::vector<SlatePolicy::Candidate> candidates;
  double floor = 0;
  CandidatesOf(user, q, retrieved, round, &candidates, &floor);
  if (!cold.empty()) {
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                    [&](const SlatePolicy::Candidate& c) {
                                      return std::find(cold.begin(), cold.end(), c.id) !=
                                             cold.end();
                                    }),
                     candidates.end());
  }
  for (uint64_t id : cold) {
    slate->add_item_ids(id);
    slate->add_scores(static_cast<float>(pool_->NonRelevanceScore(id, round)));
  }
  Rng temperature_rng(DeriveSeed(config_.seed(), kTemperatureStream, round, user));
  const SlatePolicy::Picked picked = policy_.Order(
      candidates, slate_size - static_cast<uint32_t>(cold.size()), &temperature_rng);
  for (size_t i : picked.order) {
    slate->add_item_ids(candidates[i].id);
    slate->add_scores(static_cast<float>(candidates[i].score));
  }

  // Exploration: each position may be swapped for a random unseen live item.
  if (rc_.epsilon() > 0 && !pool_->live_ids().empty()) {
    Rng rng(DeriveSeed(config_.seed(), kExploreStream, round, user));
    const std::vector<uint64_t>& live = pool_->live_ids();
    absl::flat_hash_set<uint64_t> in_slate(slate->item_ids().begin(),
                                           slate->item_ids().end());
    for (int p = 0; p < slate->item_ids_size(); ++p) {
      if (rng.Uniform() >= rc_.epsilon()) continue;
      for (int attempt = 0; attempt < 8; ++attempt) {
        const uint64_t id = live[rng.UniformInt(live.size())];
        if (in_slate.contains(id) || (rc_.seen_filter() && users_.Seen(user, id))) continue;
        in_slate.erase(slate->item_ids(p));
        in_slate.insert(id);
        slate->set_item_ids(p, id);
        slate->set_scores(p, static_cast<float>(pool_->NonRelevanceScore(id, round)));
        break;
      }
    }
  }
}

absl::Status Ranker::RankBatch(
    const google::protobuf::RepeatedPtrField<v1::UserQuery>& users,
    uint32_t slate_size, std::vector<v1::Slate>* out, const Cancellation& cancel) const {
  if (users.empty()) {
    return absl::InvalidArgumentError("users: the batch is empty");
  }
  if (static_cast<size_t>(users.size()) > options_.max_batch_users) {
    return absl::InvalidArgumentError(
        absl::StrCat("users: ", users.size(), " users exceed the limit of ",
                     options_.max_batch_users, " per request"));
  }
  if (slate_size == 0) slate_size = config_.users().slate_size();
  if (slate_size > rc_.candidates() && rc_.variant() != v1::RankerConfig::RANDOM) {
    return absl::InvalidArgumentError(
        absl::StrCat("slate_size: ", slate_size, " exceeds ranker.candidates ",
                     rc_.candidates()));
  }
  if (slate_size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("slate_size: ", slate_size, " exceeds the limit of 1000"));
  }
  const auto variant = rc_.variant();
  for (int i = 0; i < users.size(); ++i) {
    const v1::UserQuery& u = users[i];
    if (u.user_id() >= num_users_) {
      return absl::InvalidArgumentError(
          absl::StrCat("users[", i, "].user_id: ", u.user_id(),
                       " is not a user of this run (", num_users_, " users)"));
    }
    if (variant == v1::RankerConfig::ORACLE) {
      FEEDLOOP_RETURN_IF_ERROR(CheckEmbedding(
          AsSpan(u.true_interest()), dim_,
          absl::StrCat("users[", i, "].true_interest"), /*require_unit=*/false));
    }
  }

  absl::ReaderMutexLock lock(&mu_);
  if (!pool_->round().has_value()) {
    return absl::FailedPreconditionError(
        "the run has no items yet: call AdvanceRound first");
  }
  if (!rc_.allow_cold_start() && variant == v1::RankerConfig::LEARNED) {
    for (int i = 0; i < users.size(); ++i) {
      if (!users_.Known(users[i].user_id())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "users[", i, "].user_id: user ", users[i].user_id(),
            " has no feedback yet and ranker.allow_cold_start is false"));
      }
    }
  }

  // A FAISS search for the users that have a query vector, deep enough that
  // the seen filter leaves ranker.candidates of them; in batches of users
  // whose neighbours number at most kMaxSearchResults (each query's result
  // does not depend on the others of its batch), with the caller checked
  // between batches.
  const size_t n = users.size();
  const bool by_query =
      variant == v1::RankerConfig::LEARNED || variant == v1::RankerConfig::ORACLE;
  auto query_of = [&](size_t i) {
    return variant == v1::RankerConfig::ORACLE ? AsSpan(users[i].true_interest())
                                               : users_.Query(users[i].user_id());
  };
  size_t most_seen = 0;
  if (by_query && rc_.seen_filter()) {
    for (size_t i = 0; i < n; ++i) {
      if (!query_of(i).empty()) {
        most_seen = std::max(most_seen, users_.SeenCount(users[i].user_id()));
      }
    }
  }
  const size_t depth = rc_.candidates() + most_seen;
  const size_t per_batch = std::max<size_t>(1, config::kMaxSearchResults / depth);
  out->assign(n, v1::Slate());
  for (size_t first = 0; first < n; first += per_batch) {
    FEEDLOOP_RETURN_IF_ERROR(cancel.Check());
    const size_t last = std::min(n, first + per_batch);
    std::vector<int> row_of(last - first, -1);
    std::vector<float> queries;
    for (size_t i = first; by_query && i < last; ++i) {
      std::span<const float> q = query_of(i);
      if (q.empty()) continue;
      row_of[i - first] = static_cast<int>(queries.size() / dim_);
      queries.insert(queries.end(), q.begin(), q.end());
    }
    std::vector<Neighbors> neighbors;
    FEEDLOOP_RETURN_IF_ERROR(pool_->Search(queries, depth, &neighbors));
    auto rank_one = [&](size_t j) {
      RankOne(users[first + j], row_of[j] >= 0 ? &neighbors[row_of[j]] : nullptr,
              slate_size, &(*out)[first + j]);
    };
    if (options_.pool != nullptr) {
      options_.pool->ParallelFor(last - first, rank_one);
    } else {
      for (size_t j = 0; j < last - first; ++j) rank_one(j);
    }
  }
  return absl::OkStatus();
}

absl::Status Ranker::Retrieve(std::span<const float> queries, uint32_t k,
                              std::vector<Neighbors>* out) const {
  if (k == 0 || k > config::kMaxRetrieveK) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: must be in [1, ", config::kMaxRetrieveK, "], got ", k));
  }
  FEEDLOOP_RETURN_IF_ERROR(
      CheckEmbeddingRows(queries, dim_, "queries", /*require_unit=*/false));
  const size_t rows = queries.size() / dim_;
  if (rows > options_.max_query_rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queries: ", rows, " rows exceed the limit of ", options_.max_query_rows));
  }
  if (uint64_t{rows} * k > config::kMaxRetrieveResults) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k: ", rows, " queries x k ", k, " = ", uint64_t{rows} * k,
        " neighbours exceed the limit of ", config::kMaxRetrieveResults, " per request"));
  }
  absl::ReaderMutexLock lock(&mu_);
  return pool_->Search(queries, k, out);
}

absl::StatusOr<std::vector<float>> Ranker::ScoreItems(
    std::span<const float> candidates, std::span<const float> context,
    std::span<const uint32_t> user_ids, uint32_t sample_users, uint64_t seed,
    const Cancellation& cancel) const {
  FEEDLOOP_RETURN_IF_ERROR(CheckEmbeddingRows(candidates, dim_, "candidates",
                                              /*require_unit=*/false));
  FEEDLOOP_RETURN_IF_ERROR(CheckEmbeddingRows(context, dim_, "context",
                                              /*require_unit=*/false));
  const size_t n = candidates.size() / dim_;
  if (n > options_.max_batch_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("candidates: ", n, " rows exceed the limit of ",
                     options_.max_batch_rows));
  }
  const size_t context_rows = context.size() / dim_;
  if (context_rows > options_.max_batch_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("context: ", context_rows, " rows exceed the limit of ",
                     options_.max_batch_rows));
  }
  // Bounded before anything is sized by it: the call's work is rows x
  // users x dim.
  const size_t scoring = user_ids.empty() ? std::min<size_t>(sample_users, num_users_)
                                          : user_ids.size();
  if (scoring > config::kMaxScoreUsers) {
    return absl::InvalidArgumentError(absl::StrCat(
        user_ids.empty() ? "sample_users: " : "user_ids: ", scoring,
        " users exceed the limit of ", config::kMaxScoreUsers, " per request"));
  }
  if (uint64_t{scoring} * dim_ > config::kMaxScoreUserFloats) {
    return absl::InvalidArgumentError(absl::StrCat(
        user_ids.empty() ? "sample_users: " : "user_ids: ", scoring, " users x dim ", dim_,
        " exceed the limit of ", config::kMaxScoreUserFloats, " floats per request"));
  }
  const uint64_t work = (uint64_t{n} + context_rows) * scoring * dim_;
  if (work > config::kMaxScoreWork) {
    return absl::InvalidArgumentError(absl::StrCat(
        "candidates: ", n, " rows and ", context_rows, " context rows x ", scoring,
        " users x dim ", dim_, " = ", work, " exceeds the limit of ",
        config::kMaxScoreWork, " per request; send fewer rows per call"));
  }
  std::vector<uint32_t> users;
  if (!user_ids.empty()) {
    for (size_t i = 0; i < user_ids.size(); ++i) {
      if (user_ids[i] >= num_users_) {
        return absl::InvalidArgumentError(
            absl::StrCat("user_ids[", i, "]: ", user_ids[i],
                         " is not a user of this run (", num_users_, " users)"));
      }
    }
    users.assign(user_ids.begin(), user_ids.end());
  } else {
    if (sample_users == 0) {
      return absl::InvalidArgumentError(
          "sample_users: give user_ids or a positive sample_users");
    }
    Rng rng(DeriveSeed(seed, kScoreSampleStream));
    for (uint64_t u : rng.SampleWithoutReplacement(
             num_users_, std::min<uint64_t>(sample_users, num_users_))) {
      users.push_back(static_cast<uint32_t>(u));
    }
    std::sort(users.begin(), users.end());
  }

  absl::ReaderMutexLock lock(&mu_);
  // The candidates are items of the next round; the slates they would enter
  // are the scoring users' next slates, from what is live then.
  const uint32_t at_round = pool_->round().has_value() ? *pool_->round() + 1 : 0;
  const auto variant = rc_.variant();
  const bool by_relevance =
      variant == v1::RankerConfig::LEARNED || variant == v1::RankerConfig::ORACLE;
  const uint32_t slate_size = config_.users().slate_size();
  size_t live_then = context_rows;
  for (uint64_t id : pool_->live_ids()) live_then += pool_->LiveIn(id, at_round);

  // Per scoring user: its query (the learned estimate: the ranker has no
  // true interests here, even as ORACLE), its retrieval, and its slate.
  const size_t m = users.size();
  std::vector<float> q(m * dim_, 0.0f);
  std::vector<bool> has_query(m, false);
  std::vector<float> queries;
  std::vector<int> row_of(m, -1);
  size_t most_seen = 0;
  for (size_t j = 0; j < m; ++j) {
    std::span<const float> v = users_.Query(users[j]);
    if (v.empty()) continue;
    std::copy(v.begin(), v.end(), q.begin() + j * dim_);
    has_query[j] = true;
    if (by_relevance) {
      row_of[j] = static_cast<int>(queries.size() / dim_);
      queries.insert(queries.end(), v.begin(), v.end());
      if (rc_.seen_filter()) most_seen = std::max(most_seen, users_.SeenCount(users[j]));
    }
  }
  // The users' slates, searched in batches of at most kMaxSearchResults
  // neighbours (as RankBatch does), the caller checked between batches.
  const size_t expiring = pool_->live_ids().size() + context_rows - live_then;
  const size_t depth = rc_.candidates() + most_seen + expiring;
  const size_t per_batch = std::max<size_t>(1, config::kMaxSearchResults / depth);
  const double new_score = pool_->NewItemScore();
  std::vector<SlatePolicy::View> views(m);
  std::vector<double> floors(m, kNegInf);
  for (size_t first = 0; first < m; first += per_batch) {
    FEEDLOOP_RETURN_IF_ERROR(cancel.Check());
    const size_t last = std::min(m, first + per_batch);
    // The batch's queries: rows row_of[first] .. of `queries`.
    int first_row = -1, end_row = 0;
    for (size_t j = first; j < last; ++j) {
      if (row_of[j] < 0) continue;
      if (first_row < 0) first_row = row_of[j];
      end_row = row_of[j] + 1;
    }
    std::vector<Neighbors> neighbors;
    if (first_row >= 0) {
      FEEDLOOP_RETURN_IF_ERROR(pool_->Search(
          std::span<const float>(queries.data() + size_t(first_row) * dim_,
                                 size_t(end_row - first_row) * dim_),
          depth, &neighbors));
    }
    auto view_one = [&](size_t i) {
      const size_t j = first + i;
      std::vector<SlatePolicy::Candidate> cands;
      const std::span<const float> query =
          row_of[j] >= 0 ? std::span<const float>(q.data() + j * dim_, dim_)
                         : std::span<const float>();
      CandidatesOf(users[j], query,
                   row_of[j] >= 0 ? &neighbors[row_of[j] - first_row] : nullptr,
                   at_round, &cands, &floors[j]);
      AddContext(query, context, dim_, rc_.weight_relevance(), new_score,
                 rc_.candidates(), &cands, &floors[j]);
      views[j] = policy_.ViewOf(cands, slate_size, live_then);
    };
    if (options_.pool != nullptr) {
      options_.pool->ParallelFor(last - first, view_one);
    } else {
      for (size_t i = 0; i < last - first; ++i) view_one(i);
    }
  }

  const double slope = rc_.reward_slope();
  const double mid = rc_.reward_midpoint();
  const double random_exam =
      live_then == 0 ? policy_.MeanExamination(slate_size)
                     : std::min(1.0, static_cast<double>(slate_size) / (live_then + 1)) *
                           policy_.MeanExamination(slate_size);
  // The caller is checked every few candidates: each pair costs about
  // (1 + slate_size) x dim multiply-adds (its affinity, and its similarity
  // to the slate's items under MMR), and a check comes every 2^16 or so,
  // well under a millisecond of work.
  std::vector<float> out(n);
  std::atomic<bool> stopped{false};
  const size_t per_check = std::max<size_t>(
      1, (size_t{1} << 16) / (m * dim_ * (1 + size_t{slate_size}) + 1));
  auto score_one = [&](size_t c) {
    if (c % per_check == 0 && (stopped.load(std::memory_order_relaxed) || cancel.fired())) {
      stopped = true;
    }
    if (stopped.load(std::memory_order_relaxed)) return;
    const std::span<const float> cand = candidates.subspan(c * dim_, dim_);
    double sum = 0;
    for (size_t j = 0; j < m; ++j) {
      const double affinity =
          has_query[j] ? Dot(std::span<const float>(q.data() + j * dim_, dim_), cand) : 0;
      double exam;
      if (variant == v1::RankerConfig::RANDOM) {
        exam = random_exam;
      } else if (row_of[j] >= 0) {
        // Retrieval: above the user's last candidate, smoothed as ranks are.
        const double retrieval =
            floors[j] == kNegInf ? 1.0 : policy_.Beats(affinity - floors[j]);
        exam = retrieval < 1e-12 && rc_.epsilon() == 0
                   ? 0.0  // far below this user's candidates: no walk needed
                   : policy_.ExpectedExamination(
                         rc_.weight_relevance() * affinity + new_score, cand, views[j],
                         retrieval);
      } else {
        const double retrieval =
            floors[j] == kNegInf ? 1.0 : policy_.Beats(new_score - floors[j]);
        exam = policy_.ExpectedExamination(new_score, cand, views[j], retrieval);
      }
      sum += exam * Sigmoid(slope * (affinity - mid));
    }
    out[c] = static_cast<float>(m ? sum / m : 0);
  };
  if (options_.pool != nullptr) {
    options_.pool->ParallelFor(n, score_one);
  } else {
    for (size_t c = 0; c < n; ++c) score_one(c);
  }
  if (stopped) {
    absl::Status why = cancel.Check();
    return why.ok() ? absl::CancelledError("the call was cancelled") : why;
  }
  return out;
}

// --------------------------------------------------------------- feedback

absl::Status Ranker::RecordFeedback(
    uint32_t round, std::span<const v1::Interaction> interactions) {
  absl::MutexLock lock(&mu_);
  const std::optional<uint32_t> at = pool_->round();
  if (!at.has_value() || round != *at) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round: feedback is for round ", round, " but the ranker is at ",
        at.has_value() ? absl::StrCat("round ", *at) : "no round yet"));
  }
  if (feedback_round_.has_value() && *feedback_round_ == round) {
    return absl::AlreadyExistsError(
        absl::StrCat("round: feedback of round ", round, " was already recorded"));
  }
  absl::flat_hash_set<uint64_t> slots;
  for (size_t i = 0; i < interactions.size(); ++i) {
    const v1::Interaction& x = interactions[i];
    if (x.user_id() >= num_users_) {
      return absl::InvalidArgumentError(
          absl::StrCat("interactions[", i, "].user_id: ", x.user_id(),
                       " is not a user of this run (", num_users_, " users)"));
    }
    if (!pool_->Live(x.item_id())) {
      return absl::NotFoundError(
          absl::StrCat("interactions[", i, "].item_id: item ", x.item_id(),
                       " is not live in this run"));
    }
    if (!slots.insert((uint64_t{x.user_id()} << 32) | x.position()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("interactions[", i, "]: user ", x.user_id(),
                       " position ", x.position(), " appears twice"));
    }
  }
  // Canonical order, so that live feedback and a replay from the store
  // (which scans in this order) give bit-identical estimates.
  std::vector<v1::Interaction> sorted(interactions.begin(), interactions.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) {
    return x.user_id() != y.user_id() ? x.user_id() < y.user_id()
                                      : x.position() < y.position();
  });
  users_.Learn(sorted, *pool_);
  for (const v1::Interaction& x : sorted) {
    if (x.engaged()) pool_->AddEngagement(x.item_id());
  }
  pool_->Refresh();
  feedback_round_ = round;
  return absl::OkStatus();
}

Ranker::State Ranker::state() const {
  absl::ReaderMutexLock lock(&mu_);
  State s;
  s.round = pool_->round();
  s.feedback_round = feedback_round_;
  s.live_items = pool_->live_ids().size();
  s.known_users = users_.known_users();
  s.added = pool_->last_added();
  s.expired = pool_->last_expired();
  s.index_rebuilds = pool_->rebuilds();
  return s;
}

std::vector<float> Ranker::UserEstimate(uint32_t user_id) const {
  absl::ReaderMutexLock lock(&mu_);
  if (user_id >= num_users_) return {};
  std::span<const float> q = users_.Query(user_id);
  if (q.empty()) return std::vector<float>(dim_, 0.0f);
  return std::vector<float>(q.begin(), q.end());
}

}  // namespace feedloop::ranker
