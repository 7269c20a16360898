#include "ranker/ranker.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status.h"
#include "common/vectors.h"
#include "config/config.h"

namespace feedloop::ranker {
namespace {

// Stream tags for DeriveSeed: every seeded draw of the ranker has its own.
constexpr uint64_t kExploreStream = 0x7a11;
constexpr uint64_t kRandomStream = 0x7a12;
constexpr uint64_t kScoreSampleStream = 0x7a13;

constexpr uint64_t kMaxItemId = (uint64_t{1} << 63) - 1;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

VectorIndex::Type TypeOf(v1::RankerConfig::IndexType t) {
  switch (t) {
    case v1::RankerConfig::IVF:
      return VectorIndex::Type::kIvf;
    case v1::RankerConfig::HNSW:
      return VectorIndex::Type::kHnsw;
    case v1::RankerConfig::FLAT:
      break;
  }
  return VectorIndex::Type::kFlat;
}

}  // namespace

VectorIndex::Options IndexOptionsFor(const v1::ExperimentConfig& config,
                                     int search_threads) {
  const v1::RankerConfig& r = config.ranker();
  VectorIndex::Options o;
  o.type = TypeOf(r.index());
  o.dim = config.space().dim();
  o.ivf_nlist = r.ivf_nlist();
  o.ivf_nprobe = r.ivf_nprobe();
  o.hnsw_m = r.hnsw_m();
  o.hnsw_ef_search = r.hnsw_ef_search();
  o.hnsw_ef_construction = r.hnsw_ef_construction();
  o.rebuild_dead_fraction = r.rebuild_dead_fraction();
  o.search_threads = search_threads;
  o.seed = DeriveSeed(config.seed(), 0x1dc);
  return o;
}

absl::StatusOr<std::unique_ptr<Ranker>> Ranker::Create(
    const v1::ExperimentConfig& config, const Options& options) {
  FEEDLOOP_RETURN_IF_ERROR(config::ValidateConfig(config));
  FEEDLOOP_ASSIGN_OR_RETURN(
      std::unique_ptr<VectorIndex> index,
      VectorIndex::Create(IndexOptionsFor(config, options.search_threads)));
  return std::unique_ptr<Ranker>(new Ranker(config, options, std::move(index)));
}

Ranker::Ranker(const v1::ExperimentConfig& config, const Options& options,
               std::unique_ptr<VectorIndex> index)
    : config_(config),
      rc_(config_.ranker()),
      options_(options),
      dim_(config.space().dim()),
      num_users_(config.users().count()),
      index_(std::move(index)) {
  absl::MutexLock lock(&mu_);
  user_q_.assign(size_t{num_users_} * dim_, 0.0f);
  user_known_.assign(num_users_, false);
  prior_.assign(dim_, 0.0f);
}

// ------------------------------------------------------------ round state

absl::Status Ranker::AdvanceRound(uint32_t round,
                                  std::span<const v1::Item> items) {
  absl::MutexLock lock(&mu_);
  const uint32_t expected = round_.has_value() ? *round_ + 1 : 0;
  if (round != expected) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round: the ranker is at ",
        round_.has_value() ? absl::StrCat("round ", *round_) : "no round yet",
        " and can only advance to round ", expected, ", not ", round));
  }
  // Check everything before changing anything.
  absl::flat_hash_set<uint64_t> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    const v1::Item& item = items[i];
    if (item.id() == 0 || item.id() > kMaxItemId) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "].id: must be in [1, 2^63), got ", item.id()));
    }
    if (item.round() != round) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "].round: ", item.round(), " is not round ", round));
    }
    if (items_.contains(item.id()) || !seen.insert(item.id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "].id: item ", item.id(), " is already indexed"));
    }
    FEEDLOOP_RETURN_IF_ERROR(CheckEmbedding(
        AsSpan(item.embedding()), dim_, absl::StrCat("items[", i, "].embedding")));
  }

  // Expire: an item of round r is live for rounds r .. r + ttl - 1.
  std::vector<uint64_t> expired;
  const uint32_t ttl = rc_.item_ttl_rounds();
  for (uint64_t id : live_ids_) {
    if (items_.at(id).round + ttl <= round) expired.push_back(id);
  }
  FEEDLOOP_RETURN_IF_ERROR(index_->Remove(expired));
  for (uint64_t id : expired) items_.erase(id);
  if (!expired.empty()) {
    absl::flat_hash_set<uint64_t> gone(expired.begin(), expired.end());
    live_ids_.erase(std::remove_if(live_ids_.begin(), live_ids_.end(),
                                   [&](uint64_t id) { return gone.contains(id); }),
                    live_ids_.end());
  }
  // Popularity decays once per round; iteration order is irrelevant here.
  for (auto& [id, meta] : items_) meta.popularity *= rc_.popularity_decay();

  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  ids.reserve(items.size());
  vectors.reserve(items.size() * dim_);
  for (const v1::Item& item : items) {
    ids.push_back(item.id());
    vectors.insert(vectors.end(), item.embedding().begin(),
                   item.embedding().end());
  }
  FEEDLOOP_RETURN_IF_ERROR(index_->Add(ids, vectors));
  for (const v1::Item& item : items) {
    items_[item.id()] = ItemMeta{round, 0.0};
    live_ids_.push_back(item.id());
  }
  std::sort(live_ids_.begin(), live_ids_.end());

  round_ = round;
  last_added_ = ids.size();
  last_expired_ = expired.size();

  // ITEM_MEAN prior: the mean of the live items, summed in id order.
  std::fill(prior_.begin(), prior_.end(), 0.0f);
  prior_is_zero_ = true;
  if (rc_.prior() == v1::RankerConfig::ITEM_MEAN && !live_ids_.empty()) {
    std::vector<double> sum(dim_, 0.0);
    for (uint64_t id : live_ids_) {
      const float* e = index_->Vector(id);
      for (uint32_t d = 0; d < dim_; ++d) sum[d] += e[d];
    }
    for (uint32_t d = 0; d < dim_; ++d) {
      prior_[d] = static_cast<float>(sum[d] / live_ids_.size());
      prior_is_zero_ &= prior_[d] == 0.0f;
    }
  }
  RefreshDerivedLocked();
  return absl::OkStatus();
}

void Ranker::RefreshDerivedLocked() {
  double max_pop = 0;
  for (uint64_t id : live_ids_) {
    max_pop = std::max(max_pop, items_.at(id).popularity);
  }
  log1p_max_popularity_ = std::log1p(max_pop);
  // The popular list: by popularity and freshness, ties by id.
  std::vector<std::pair<double, uint64_t>> scored;
  scored.reserve(live_ids_.size());
  for (uint64_t id : live_ids_) scored.emplace_back(NonRelevanceScore(id), id);
  const size_t k = std::min<size_t>(rc_.candidates(), scored.size());
  std::partial_sort(scored.begin(), scored.begin() + k, scored.end(),
                    [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first
                                                : a.second < b.second;
                    });
  popular_.clear();
  for (size_t i = 0; i < k; ++i) popular_.push_back(scored[i].second);
}

double Ranker::PopularityScaled(double popularity) const {
  if (log1p_max_popularity_ <= 0) return 0;
  return std::log1p(popularity) / log1p_max_popularity_;
}

double Ranker::Freshness(uint32_t item_round) const {
  const double age = static_cast<double>(*round_ - item_round);
  return std::exp2(-age / rc_.freshness_half_life());
}

double Ranker::NonRelevanceScore(uint64_t id) const {
  const ItemMeta& meta = items_.at(id);
  return rc_.weight_popularity() * PopularityScaled(meta.popularity) +
         rc_.weight_freshness() * Freshness(meta.round);
}

std::span<const float> Ranker::QueryOf(uint32_t user) const {
  if (user_known_[user]) {
    return {user_q_.data() + size_t{user} * dim_, dim_};
  }
  if (prior_is_zero_) return {};
  return prior_;
}

// ---------------------------------------------------------------- ranking

void Ranker::BuildSlate(uint32_t user, std::span<const uint64_t> candidate_ids,
                        std::span<const double> scores, uint32_t slate_size,
                        v1::Slate* slate) const {
  const size_t n = candidate_ids.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return scores[a] != scores[b] ? scores[a] > scores[b]
                                  : candidate_ids[a] < candidate_ids[b];
  });
  const size_t s = std::min<size_t>(slate_size, n);
  std::vector<size_t> chosen;  // indices into candidate_ids
  chosen.reserve(s);
  const double lambda = rc_.mmr_lambda();
  if (lambda <= 0) {
    chosen.assign(order.begin(), order.begin() + s);
  } else {
    // Greedy MMR; max_sim[c] is c's largest similarity to the chosen items,
    // updated as each item is chosen.
    std::vector<const float*> vec(n);
    for (size_t i = 0; i < n; ++i) vec[i] = index_->Vector(candidate_ids[i]);
    std::vector<double> max_sim(n, -std::numeric_limits<double>::infinity());
    std::vector<bool> taken(n, false);
    for (size_t step = 0; step < s; ++step) {
      size_t best = n;
      double best_value = -std::numeric_limits<double>::infinity();
      for (size_t c : order) {  // score order breaks ties
        if (taken[c]) continue;
        const double penalty = chosen.empty() ? 0.0 : max_sim[c];
        const double value = (1 - lambda) * scores[c] - lambda * penalty;
        if (value > best_value) {
          best_value = value;
          best = c;
        }
      }
      taken[best] = true;
      chosen.push_back(best);
      const std::span<const float> picked(vec[best], dim_);
      for (size_t c = 0; c < n; ++c) {
        if (!taken[c]) {
          max_sim[c] = std::max(max_sim[c],
                                Dot(std::span<const float>(vec[c], dim_), picked));
        }
      }
    }
  }
  slate->set_user_id(user);
  for (size_t c : chosen) {
    slate->add_item_ids(candidate_ids[c]);
    slate->add_scores(static_cast<float>(scores[c]));
  }

  // Exploration: each position may be swapped for a random live item.
  if (rc_.epsilon() > 0 && !live_ids_.empty()) {
    Rng rng(DeriveSeed(config_.seed(), kExploreStream, *round_, user));
    absl::flat_hash_set<uint64_t> in_slate(slate->item_ids().begin(),
                                           slate->item_ids().end());
    for (int p = 0; p < slate->item_ids_size(); ++p) {
      if (rng.Uniform() >= rc_.epsilon()) continue;
      for (int attempt = 0; attempt < 8; ++attempt) {
        const uint64_t id = live_ids_[rng.UniformInt(live_ids_.size())];
        if (in_slate.contains(id)) continue;
        in_slate.erase(slate->item_ids(p));
        in_slate.insert(id);
        slate->set_item_ids(p, id);
        slate->set_scores(p, static_cast<float>(NonRelevanceScore(id)));
        break;
      }
    }
  }
}

absl::Status Ranker::RankBatch(
    const google::protobuf::RepeatedPtrField<v1::UserQuery>& users,
    uint32_t slate_size, std::vector<v1::Slate>* out) const {
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
  if (!round_.has_value()) {
    return absl::FailedPreconditionError(
        "the run has no items yet: call AdvanceRound first");
  }
  if (!rc_.allow_cold_start() && variant == v1::RankerConfig::LEARNED) {
    for (int i = 0; i < users.size(); ++i) {
      if (!user_known_[users[i].user_id()]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "users[", i, "].user_id: user ", users[i].user_id(),
            " has no feedback yet and ranker.allow_cold_start is false"));
      }
    }
  }

  // One batched FAISS search for every user that has a query vector.
  const size_t n = users.size();
  std::vector<int> row_of(n, -1);
  std::vector<float> queries;
  if (variant == v1::RankerConfig::LEARNED ||
      variant == v1::RankerConfig::ORACLE) {
    for (size_t i = 0; i < n; ++i) {
      std::span<const float> q = variant == v1::RankerConfig::ORACLE
                                     ? AsSpan(users[i].true_interest())
                                     : QueryOf(users[i].user_id());
      if (q.empty()) continue;
      row_of[i] = static_cast<int>(queries.size() / dim_);
      queries.insert(queries.end(), q.begin(), q.end());
    }
  }
  std::vector<Neighbors> neighbors;
  FEEDLOOP_RETURN_IF_ERROR(index_->Search(queries, rc_.candidates(), &neighbors));

  out->assign(n, v1::Slate());
  auto rank_one = [&](size_t i) {
    const uint32_t user = users[i].user_id();
    v1::Slate& slate = (*out)[i];
    if (variant == v1::RankerConfig::RANDOM) {
      slate.set_user_id(user);
      Rng rng(DeriveSeed(config_.seed(), kRandomStream, *round_, user));
      const size_t s = std::min<size_t>(slate_size, live_ids_.size());
      for (uint64_t pick : rng.SampleWithoutReplacement(live_ids_.size(), s)) {
        slate.add_item_ids(live_ids_[pick]);
        slate.add_scores(0.0f);
      }
      return;
    }
    std::vector<double> scores;
    if (row_of[i] >= 0) {
      const Neighbors& nb = neighbors[row_of[i]];
      scores.reserve(nb.ids.size());
      for (size_t c = 0; c < nb.ids.size(); ++c) {
        scores.push_back(rc_.weight_relevance() * nb.scores[c] +
                         NonRelevanceScore(nb.ids[c]));
      }
      BuildSlate(user, nb.ids, scores, slate_size, &slate);
    } else {
      // No query (POPULARITY, or a cold user under a ZERO prior): the
      // popular list, where relevance contributes nothing.
      scores.reserve(popular_.size());
      for (uint64_t id : popular_) scores.push_back(NonRelevanceScore(id));
      BuildSlate(user, popular_, scores, slate_size, &slate);
    }
  };
  if (options_.pool != nullptr) {
    options_.pool->ParallelFor(n, rank_one);
  } else {
    for (size_t i = 0; i < n; ++i) rank_one(i);
  }
  return absl::OkStatus();
}

absl::Status Ranker::Retrieve(std::span<const float> queries, uint32_t k,
                              std::vector<Neighbors>* out) const {
  if (k == 0 || k > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: must be in [1, 10000], got ", k));
  }
  FEEDLOOP_RETURN_IF_ERROR(
      CheckEmbeddingRows(queries, dim_, "queries", /*require_unit=*/false));
  if (queries.size() / dim_ > options_.max_batch_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries: ", queries.size() / dim_,
                     " rows exceed the limit of ", options_.max_batch_rows));
  }
  absl::ReaderMutexLock lock(&mu_);
  return index_->Search(queries, k, out);
}

absl::StatusOr<std::vector<float>> Ranker::ScoreItems(
    std::span<const float> candidates, std::span<const uint32_t> user_ids,
    uint32_t sample_users, uint64_t seed) const {
  FEEDLOOP_RETURN_IF_ERROR(CheckEmbeddingRows(candidates, dim_, "candidates",
                                              /*require_unit=*/false));
  const size_t n = candidates.size() / dim_;
  if (n > options_.max_batch_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("candidates: ", n, " rows exceed the limit of ",
                     options_.max_batch_rows));
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
  // The users' query vectors, gathered once (zero rows for no query).
  std::vector<float> q(users.size() * dim_, 0.0f);
  for (size_t j = 0; j < users.size(); ++j) {
    std::span<const float> v = QueryOf(users[j]);
    if (!v.empty()) std::copy(v.begin(), v.end(), q.begin() + j * dim_);
  }
  const double slope = rc_.reward_slope();
  const double mid = rc_.reward_midpoint();
  std::vector<float> out(n);
  auto score_one = [&](size_t c) {
    const std::span<const float> cand = candidates.subspan(c * dim_, dim_);
    double sum = 0;
    for (size_t j = 0; j < users.size(); ++j) {
      const double affinity =
          Dot(std::span<const float>(q.data() + j * dim_, dim_), cand);
      sum += Sigmoid(slope * (affinity - mid));
    }
    out[c] = static_cast<float>(sum / users.size());
  };
  if (options_.pool != nullptr) {
    options_.pool->ParallelFor(n, score_one);
  } else {
    for (size_t c = 0; c < n; ++c) score_one(c);
  }
  return out;
}

// --------------------------------------------------------------- feedback

absl::Status Ranker::RecordFeedback(
    uint32_t round, std::span<const v1::Interaction> interactions) {
  absl::MutexLock lock(&mu_);
  if (!round_.has_value() || round != *round_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round: feedback is for round ", round, " but the ranker is at ",
        round_.has_value() ? absl::StrCat("round ", *round_) : "no round yet"));
  }
  if (feedback_round_.has_value() && *feedback_round_ == round) {
    return absl::AlreadyExistsError(
        absl::StrCat("round: feedback of round ", round,
                     " was already recorded"));
  }
  absl::flat_hash_set<uint64_t> slots;
  for (size_t i = 0; i < interactions.size(); ++i) {
    const v1::Interaction& x = interactions[i];
    if (x.user_id() >= num_users_) {
      return absl::InvalidArgumentError(
          absl::StrCat("interactions[", i, "].user_id: ", x.user_id(),
                       " is not a user of this run (", num_users_, " users)"));
    }
    if (!items_.contains(x.item_id())) {
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
  std::vector<size_t> order(interactions.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto& x = interactions[a];
    const auto& y = interactions[b];
    return x.user_id() != y.user_id() ? x.user_id() < y.user_id()
                                      : x.position() < y.position();
  });
  const float lr = static_cast<float>(rc_.learning_rate());
  const float skip = static_cast<float>(rc_.skip_rate());
  for (size_t i : order) {
    const v1::Interaction& x = interactions[i];
    if (!x.engaged() && skip == 0) continue;
    float* q = user_q_.data() + size_t{x.user_id()} * dim_;
    if (!user_known_[x.user_id()]) {
      std::copy(prior_.begin(), prior_.end(), q);
      user_known_[x.user_id()] = true;
      ++known_users_;
    }
    const float* e = index_->Vector(x.item_id());
    if (x.engaged()) {
      items_[x.item_id()].popularity += 1.0;
      for (uint32_t d = 0; d < dim_; ++d) q[d] += lr * (e[d] - q[d]);
    } else {
      for (uint32_t d = 0; d < dim_; ++d) q[d] -= skip * e[d];
    }
  }
  feedback_round_ = round;
  RefreshDerivedLocked();
  return absl::OkStatus();
}

Ranker::State Ranker::state() const {
  absl::ReaderMutexLock lock(&mu_);
  State s;
  s.round = round_;
  s.feedback_round = feedback_round_;
  s.live_items = live_ids_.size();
  s.known_users = known_users_;
  s.added = last_added_;
  s.expired = last_expired_;
  s.index_rebuilds = index_->rebuilds();
  return s;
}

std::vector<float> Ranker::UserEstimate(uint32_t user_id) const {
  absl::ReaderMutexLock lock(&mu_);
  if (user_id >= num_users_) return {};
  std::span<const float> q = QueryOf(user_id);
  if (q.empty()) return std::vector<float>(dim_, 0.0f);
  return std::vector<float>(q.begin(), q.end());
}

}  // namespace feedloop::ranker
