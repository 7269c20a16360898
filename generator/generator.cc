#include "generator/generator.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status.h"
#include "common/vectors.h"
#include "config/config.h"

namespace feedloop::generator {
namespace {

// Stream tags for DeriveSeed: every seeded draw has its own.
constexpr uint64_t kHomeStream = 0x6e01;
constexpr uint64_t kCreatorItemStream = 0x6e02;
constexpr uint64_t kPlatformItemStream = 0x6e03;
constexpr uint64_t kRewardStream = 0x6e04;
constexpr uint64_t kTitleStream = 0x6e05;

// Where one item of the round comes from.
struct Slot {
  uint32_t creator;    // creators_ for the platform
  uint32_t ordinal;    // its index among that source's items this round
};

}  // namespace

absl::StatusOr<std::unique_ptr<Generator>> Generator::Create(
    std::string run_id, const v1::ExperimentConfig& config, RewardModel* reward,
    const Options& options) {
  FEEDLOOP_RETURN_IF_ERROR(config::ValidateConfig(config));
  if (reward == nullptr && config.generator().alpha() > 0) {
    return absl::InvalidArgumentError(
        "generator.alpha: a coupled generator (alpha > 0) needs a reward "
        "model (the ranker)");
  }
  return std::unique_ptr<Generator>(
      new Generator(std::move(run_id), config, reward, options));
}

Generator::Generator(std::string run_id, const v1::ExperimentConfig& config,
                     RewardModel* reward, const Options& options)
    : run_id_(std::move(run_id)),
      config_(config),
      dim_(config.space().dim()),
      creators_(config.creators().count()),
      reward_(reward),
      options_(options),
      space_(model::TopicSpace::FromConfig(config)),
      platform_(config.space().dim(), {}, 0) {
  homes_.resize(size_t{creators_} * dim_);
  for (uint32_t c = 0; c < creators_; ++c) {
    Rng rng(DeriveSeed(config.seed(), kHomeStream, c));
    const uint32_t topic = static_cast<uint32_t>(rng.UniformInt(space_.topics()));
    model::DrawAround(space_.Centre(topic), config.creators().home_spread(), rng,
                      std::span<float>(homes_.data() + size_t{c} * dim_, dim_));
  }
  absl::MutexLock lock(&mu_);
  centres_ = homes_;
  platform_ = PlatformModel(dim_, homes_, config.creators().spread());
}

uint32_t Generator::CandidatesPerItem() const {
  const auto& g = config_.generator();
  return 1 + static_cast<uint32_t>(
                 std::lround(g.alpha() * (g.max_candidates() - 1)));
}

uint32_t Generator::ItemsInRound(uint32_t round) const {
  const auto& g = config_.generator();
  const double base = static_cast<double>(creators_) *
                      config_.creators().items_per_round();
  const double grown = base * std::pow(g.volume_growth(), round);
  return static_cast<uint32_t>(std::clamp<double>(
      std::llround(grown), 1, g.max_items_per_round()));
}

absl::StatusOr<std::vector<v1::Item>> Generator::Generate(
    uint32_t round, uint64_t* candidates_drawn) {
  absl::MutexLock lock(&mu_);
  if (awaiting_observe_ && round + 1 == next_round_) {
    if (candidates_drawn) *candidates_drawn = last_drawn_;
    return last_items_;  // a retry of the round just generated
  }
  if (awaiting_observe_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round: round ", next_round_ - 1,
        " was generated but not observed yet; call Observe first"));
  }
  if (round != next_round_) {
    return absl::FailedPreconditionError(
        absl::StrCat("round: the generator expects round ", next_round_,
                     ", not ", round));
  }
  uint64_t drawn = 0;
  FEEDLOOP_ASSIGN_OR_RETURN(std::vector<v1::Item> items,
                            GenerateLocked(round, &drawn));
  last_items_ = items;
  last_drawn_ = drawn;
  last_index_.clear();
  for (uint32_t i = 0; i < items.size(); ++i) last_index_[items[i].id()] = i;
  awaiting_observe_ = true;
  ++next_round_;
  if (candidates_drawn) *candidates_drawn = drawn;
  return items;
}

absl::StatusOr<std::vector<v1::Item>> Generator::GenerateLocked(
    uint32_t round, uint64_t* drawn) {
  const auto& g = config_.generator();
  const uint32_t total = ItemsInRound(round);
  const uint32_t platform_items =
      static_cast<uint32_t>(std::lround(g.ai_share() * total));
  const uint32_t creator_items = total - platform_items;

  // Who publishes what: an equal share per creator, the remainder to
  // creators chosen by rotating with the round.
  std::vector<Slot> slots;
  slots.reserve(total);
  const uint32_t base = creator_items / creators_;
  const uint32_t extra = creator_items % creators_;
  for (uint32_t c = 0; c < creators_; ++c) {
    const uint32_t n = base + ((c + round) % creators_ < extra ? 1 : 0);
    for (uint32_t j = 0; j < n; ++j) slots.push_back({c, j});
  }
  for (uint32_t j = 0; j < platform_items; ++j) slots.push_back({creators_, j});

  const uint32_t per_item = CandidatesPerItem();
  const uint64_t reward_seed = DeriveSeed(config_.seed(), kRewardStream, round);
  std::vector<v1::Item> items(slots.size());
  std::vector<float> chosen(slots.size() * dim_);

  const size_t chunk = std::max<size_t>(1, options_.items_per_scoring_chunk);
  for (size_t first = 0; first < slots.size(); first += chunk) {
    const size_t n = std::min(chunk, slots.size() - first);
    std::vector<float> candidates(n * per_item * dim_);
    auto draw = [&](size_t i) {
      const Slot& s = slots[first + i];
      Rng rng(s.creator < creators_
                  ? DeriveSeed(config_.seed(), kCreatorItemStream, round,
                               s.creator, s.ordinal)
                  : DeriveSeed(config_.seed(), kPlatformItemStream, round,
                               s.ordinal));
      for (uint32_t k = 0; k < per_item; ++k) {
        std::span<float> out(candidates.data() + (i * per_item + k) * dim_, dim_);
        if (s.creator < creators_) {
          model::DrawAround(
              std::span<const float>(centres_.data() + size_t{s.creator} * dim_,
                                     dim_),
              config_.creators().spread(), rng, out);
        } else {
          platform_.Sample(rng, out);
        }
      }
    };
    if (options_.pool != nullptr) {
      options_.pool->ParallelFor(n, draw);
    } else {
      for (size_t i = 0; i < n; ++i) draw(i);
    }
    std::vector<float> scores;
    if (per_item > 1) {
      // All of the chunk's candidates in one call; the same users (seeded by
      // the round) judge every candidate of the round.
      FEEDLOOP_ASSIGN_OR_RETURN(
          scores, reward_->Score(run_id_, round, candidates, dim_, g.reward_users(),
                                 reward_seed));
      if (scores.size() != n * per_item) {
        return absl::InternalError("reward model returned the wrong count");
      }
    }
    for (size_t i = 0; i < n; ++i) {
      uint32_t best = 0;
      for (uint32_t k = 1; k < per_item; ++k) {
        if (scores[i * per_item + k] > scores[i * per_item + best]) best = k;
      }
      std::copy_n(candidates.begin() + (i * per_item + best) * dim_, dim_,
                  chosen.begin() + (first + i) * dim_);
    }
  }
  *drawn = uint64_t{per_item} * slots.size();

  for (size_t i = 0; i < slots.size(); ++i) {
    v1::Item& item = items[i];
    const std::span<const float> e(chosen.data() + i * dim_, dim_);
    item.set_id((uint64_t{round} << 32) | (i + 1));
    item.set_round(round);
    item.set_creator_id(slots[i].creator);
    item.set_platform_generated(slots[i].creator == creators_);
    item.mutable_embedding()->Assign(e.begin(), e.end());
    Rng title_rng(DeriveSeed(config_.seed(), kTitleStream, round, i));
    item.set_title(space_.Title(e, title_rng));
  }
  return items;
}

absl::Status Generator::Observe(uint32_t round,
                                std::span<const v1::ItemOutcome> outcomes) {
  absl::MutexLock lock(&mu_);
  if (!awaiting_observe_ || round + 1 != next_round_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round: round ", round, " is not the round just generated (",
        awaiting_observe_ ? absl::StrCat(next_round_ - 1)
                          : std::string("none awaits observation"),
        ")"));
  }
  // Check everything before changing anything.
  std::vector<double> engagements(last_items_.size(), 0.0);
  absl::flat_hash_set<uint64_t> seen;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const v1::ItemOutcome& o = outcomes[i];
    auto it = last_index_.find(o.item_id());
    if (it == last_index_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("outcomes[", i, "].item_id: item ", o.item_id(),
                       " is not an item of round ", round));
    }
    if (!seen.insert(o.item_id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "outcomes[", i, "].item_id: item ", o.item_id(), " appears twice"));
    }
    if (o.engagements() > o.impressions()) {
      return absl::InvalidArgumentError(
          absl::StrCat("outcomes[", i, "]: ", o.engagements(),
                       " engagements exceed ", o.impressions(), " impressions"));
    }
    engagements[it->second] = o.engagements();
  }

  const double alpha = config_.generator().alpha();
  // Winners: the most engaged items, weighted by engagements.
  std::vector<uint32_t> order(last_items_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return engagements[a] != engagements[b] ? engagements[a] > engagements[b]
                                            : a < b;
  });
  const size_t winners = static_cast<size_t>(std::ceil(
      config_.generator().winners_fraction() * last_items_.size()));
  std::vector<double> w(dim_, 0.0);
  for (size_t r = 0; r < winners && r < order.size(); ++r) {
    const uint32_t i = order[r];
    if (engagements[i] <= 0) break;
    const auto& e = last_items_[i].embedding();
    for (uint32_t d = 0; d < dim_; ++d) w[d] += engagements[i] * e[d];
  }
  const bool have_winners = Normalize(std::span<double>(w));

  const double rate = config_.generator().adaptation_rate();
  for (uint32_t c = 0; c < creators_; ++c) {
    float* m = centres_.data() + size_t{c} * dim_;
    const float* h = homes_.data() + size_t{c} * dim_;
    std::vector<double> target(dim_);
    for (uint32_t d = 0; d < dim_; ++d) {
      // Without winners the coupled part of the target is "stay put".
      const double pull = have_winners ? w[d] : m[d];
      target[d] = alpha * pull + (1 - alpha) * h[d];
    }
    if (!Normalize(std::span<double>(target))) continue;
    std::vector<double> next(dim_);
    for (uint32_t d = 0; d < dim_; ++d) {
      next[d] = (1 - rate) * m[d] + rate * target[d];
    }
    if (!Normalize(std::span<double>(next))) continue;
    for (uint32_t d = 0; d < dim_; ++d) m[d] = static_cast<float>(next[d]);
  }

  if (config_.generator().ai_share() > 0 && alpha > 0) {
    std::vector<float> rows(last_items_.size() * dim_);
    for (size_t i = 0; i < last_items_.size(); ++i) {
      std::copy(last_items_[i].embedding().begin(),
                last_items_[i].embedding().end(), rows.begin() + i * dim_);
    }
    platform_.Refit(rows, engagements, alpha);
  }
  awaiting_observe_ = false;
  last_items_.clear();
  last_index_.clear();
  return absl::OkStatus();
}

double Generator::CreatorDriftLocked() const {
  double sum = 0;
  for (uint32_t c = 0; c < creators_; ++c) {
    // Never below 0: a centre at home is at distance 0, not -1e-9.
    sum += std::max(
        0.0, 1 - Dot(std::span<const float>(centres_.data() + size_t{c} * dim_, dim_),
                     std::span<const float>(homes_.data() + size_t{c} * dim_, dim_)));
  }
  return sum / creators_;
}

double Generator::CreatorDrift() const {
  absl::ReaderMutexLock lock(&mu_);
  return CreatorDriftLocked();
}

v1::GeneratorRunState Generator::state() const {
  absl::ReaderMutexLock lock(&mu_);
  v1::GeneratorRunState s;
  s.set_run_id(run_id_);
  s.set_next_round(next_round_);
  s.set_creators(creators_);
  s.set_creator_drift(CreatorDriftLocked());
  return s;
}

std::vector<float> Generator::CreatorCentre(uint32_t creator) const {
  absl::ReaderMutexLock lock(&mu_);
  if (creator >= creators_) return {};
  return std::vector<float>(centres_.begin() + size_t{creator} * dim_,
                            centres_.begin() + size_t{creator + 1} * dim_);
}

PlatformModel Generator::platform_model() const {
  absl::ReaderMutexLock lock(&mu_);
  return platform_;
}

}  // namespace feedloop::generator
