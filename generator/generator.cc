#include "generator/generator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <functional>
#include <optional>
#include <string_view>
#include <numeric>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status.h"
#include "common/vectors.h"
#include "config/config.h"
#include "config/cost.h"

namespace feedloop::generator {
namespace {

// Stream tags for DeriveSeed: every seeded draw has its own.
constexpr uint64_t kHomeStream = 0x6e01;
constexpr uint64_t kCreatorItemStream = 0x6e02;
constexpr uint64_t kPlatformItemStream = 0x6e03;
constexpr uint64_t kRewardStream = 0x6e04;
constexpr uint64_t kTitleStream = 0x6e05;
constexpr uint64_t kProbeStream = 0x6e06;

// Tells two draws of a round apart (within one process).
size_t FingerprintOf(const RoundItems& items) {
  return std::hash<std::string_view>()(
      std::string_view(reinterpret_cast<const char*>(items.embeddings.data()),
                       items.embeddings.size() * sizeof(float)));
}
constexpr uint64_t kProbeRewardStream = 0x6e07;

// Added to a probe's reward before its log: a probe nobody would see is
// very bad, not infinitely bad.
constexpr double kRewardFloor = 1e-4;

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
    const uint32_t home_topics = config.creators().home_topics() > 0
                                     ? config.creators().home_topics()
                                     : space_.topics();
    const uint32_t topic = static_cast<uint32_t>(rng.UniformInt(home_topics));
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
  return static_cast<uint32_t>(config::ItemsInRound(config_, round));
}

absl::StatusOr<std::shared_ptr<const RoundItems>> Generator::Generate(
    uint32_t round, uint64_t* candidates_drawn, const Cancellation& cancel) {
  absl::MutexLock lock(&mu_);
  cancel_ = &cancel;
  absl::Cleanup forget = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    cancel_ = &kNoCancellation;
  };
  if (awaiting_observe_ && round + 1 == next_round_) {
    // A retry of the round just generated.
    if (candidates_drawn) *candidates_drawn = last_drawn_;
    if (!last_released_) return last_;
    uint64_t drawn = 0;
    FEEDLOOP_ASSIGN_OR_RETURN(RoundItems again, GenerateLocked(round, &drawn));
    if (again.creators != last_->creators || drawn != last_drawn_ ||
        FingerprintOf(again) != last_fingerprint_) {
      return absl::InternalError(absl::StrCat(
          "round ", round, ": drawn again after its release, the items differ from the "
          "first draw (the reward model changed in between)"));
    }
    last_ = std::make_shared<const RoundItems>(std::move(again));
    last_released_ = false;
    return last_;
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
  // Adapt to the last observed round first; commit only with the items.
  std::vector<float> adapted = centres_;
  if (observed_round_.has_value()) {
    FEEDLOOP_ASSIGN_OR_RETURN(adapted,
                              AdaptedCentres(*observed_round_, observed_engagements_));
  }
  std::swap(centres_, adapted);
  uint64_t drawn = 0;
  absl::StatusOr<RoundItems> generated = GenerateLocked(round, &drawn);
  if (!generated.ok()) {
    std::swap(centres_, adapted);  // a failed call changes nothing
    return generated.status();
  }
  observed_round_.reset();
  observed_.reset();
  observed_engagements_.clear();
  last_ = std::make_shared<const RoundItems>(*std::move(generated));
  last_released_ = false;
  last_drawn_ = drawn;
  awaiting_observe_ = true;
  ++next_round_;
  v1::GeneratorCheckpoint& checkpoint = checkpoint_.emplace();
  checkpoint.set_round(round);
  checkpoint.mutable_centres()->Add(centres_.begin(), centres_.end());
  for (size_t k = 0; k < platform_.components(); ++k) {
    const std::span<const float> mean = platform_.mean(k);
    checkpoint.mutable_platform_means()->Add(mean.begin(), mean.end());
    checkpoint.add_platform_weights(platform_.weight(k));
    checkpoint.add_platform_spreads(platform_.spread(k));
  }
  checkpoint.set_candidates_drawn(drawn);
  if (candidates_drawn) *candidates_drawn = drawn;
  return last_;
}

v1::Item Generator::ItemAt(const RoundItems& items, size_t i) const {
  v1::Item item;
  const std::span<const float> e = items.embedding(i);
  item.set_id(items.id(i));
  item.set_round(items.round);
  item.set_creator_id(items.creators[i]);
  item.set_platform_generated(items.creators[i] == creators_);
  item.mutable_embedding()->Assign(e.begin(), e.end());
  Rng title_rng(DeriveSeed(config_.seed(), kTitleStream, items.round, i));
  item.set_title(space_.Title(e, title_rng));
  return item;
}

absl::StatusOr<std::shared_ptr<RoundItems>> Generator::PlaceItems(
    uint32_t round_number, std::vector<v1::Item> items) const {
  if (items.size() != ItemsInRound(round_number)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "items: round ", round_number, " holds ", ItemsInRound(round_number),
        " items, but ", items.size(), " were given"));
  }
  auto round = std::make_shared<RoundItems>();
  round->round = round_number;
  round->dim = dim_;
  round->creators.assign(items.size(), 0);
  round->embeddings.assign(items.size() * dim_, 0.0f);
  std::vector<bool> filled(items.size(), false);
  for (uint32_t i = 0; i < items.size(); ++i) {
    const v1::Item& item = items[i];
    const std::optional<size_t> row = round->RowOf(item.id());
    if (item.round() != round_number || !row.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "]: item ", item.id(), " is of round ", item.round(),
          ", not one of the ", items.size(), " items of round ", round_number));
    }
    if (filled[*row]) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "]: item ", item.id(), " appears twice"));
    }
    if (static_cast<uint32_t>(item.embedding_size()) != dim_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "].embedding: ", item.embedding_size(), " values, not ", dim_));
    }
    filled[*row] = true;
    round->creators[*row] = item.creator_id();
    std::copy(item.embedding().begin(), item.embedding().end(),
              round->embeddings.begin() + *row * dim_);
  }
  return round;
}

bool Generator::Release(uint32_t round) {
  absl::MutexLock lock(&mu_);
  if (!awaiting_observe_ || round + 1 != next_round_ || last_released_) return false;
  const auto& g = config_.generator();
  const bool observe_reads_embeddings =
      g.creator_policy() == v1::GeneratorConfig::TREND_CHASING ||
      (g.ai_share() > 0 && g.alpha() > 0);
  if (observe_reads_embeddings) return false;
  last_fingerprint_ = FingerprintOf(*last_);
  auto kept = std::make_shared<RoundItems>();
  kept->round = last_->round;
  kept->dim = last_->dim;
  kept->creators = last_->creators;
  last_ = std::move(kept);
  last_released_ = true;
  return true;
}

bool Generator::ReleasedLocked(uint32_t round) const {
  return awaiting_observe_ && round + 1 == next_round_ && last_released_;
}

bool Generator::Released(uint32_t round) const {
  absl::ReaderMutexLock lock(&mu_);
  return ReleasedLocked(round);
}

absl::Status Generator::Reload(uint32_t round, std::vector<v1::Item> items) {
  absl::MutexLock lock(&mu_);
  if (!ReleasedLocked(round)) {
    return absl::FailedPreconditionError(
        absl::StrCat("round: round ", round, " is not a released round of this generator"));
  }
  FEEDLOOP_ASSIGN_OR_RETURN(std::shared_ptr<RoundItems> placed,
                            PlaceItems(round, std::move(items)));
  if (placed->creators != last_->creators) {
    return absl::InvalidArgumentError(absl::StrCat(
        "items: the stored items of round ", round, " are not the ones this generator made"));
  }
  last_ = std::move(placed);
  last_released_ = false;
  return absl::OkStatus();
}

absl::StatusOr<v1::GeneratorCheckpoint> Generator::Checkpoint() const {
  absl::ReaderMutexLock lock(&mu_);
  if (!checkpoint_.has_value()) {
    return absl::FailedPreconditionError("no round has been generated yet");
  }
  return *checkpoint_;
}

absl::Status Generator::Restore(const v1::GeneratorCheckpoint& checkpoint,
                                std::vector<v1::Item> items) {
  absl::MutexLock lock(&mu_);
  if (next_round_ != 0 || awaiting_observe_) {
    return absl::FailedPreconditionError(
        "a generator is restored before it generates anything");
  }
  const size_t centres = size_t{creators_} * dim_;
  if (static_cast<size_t>(checkpoint.centres_size()) != centres) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint.centres: ", checkpoint.centres_size(), " values, but the run has ",
        creators_, " creators of dimension ", dim_));
  }
  FEEDLOOP_ASSIGN_OR_RETURN(
      PlatformModel platform,
      PlatformModel::FromState(
          dim_, AsSpan(checkpoint.platform_means()),
          std::span<const double>(checkpoint.platform_weights().data(),
                                  checkpoint.platform_weights_size()),
          std::span<const double>(checkpoint.platform_spreads().data(),
                                  checkpoint.platform_spreads_size())));
  FEEDLOOP_ASSIGN_OR_RETURN(std::shared_ptr<RoundItems> round,
                            PlaceItems(checkpoint.round(), std::move(items)));
  centres_.assign(checkpoint.centres().begin(), checkpoint.centres().end());
  platform_ = std::move(platform);
  last_ = std::move(round);
  last_released_ = false;
  last_drawn_ = checkpoint.candidates_drawn();
  awaiting_observe_ = true;
  next_round_ = checkpoint.round() + 1;
  checkpoint_ = checkpoint;
  return absl::OkStatus();
}

absl::StatusOr<RoundItems> Generator::GenerateLocked(uint32_t round, uint64_t* drawn) {
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
  RoundItems items;
  items.round = round;
  items.dim = dim_;
  items.embeddings.assign(slots.size() * dim_, 0.0f);
  std::vector<float>& chosen = items.embeddings;

  // The round's items compete with each other in the slates they enter, so
  // they are chosen in waves: each creator's j-th item in wave j (the
  // platform's spread over the waves), priced with the items of the waves
  // before it as context. A creator's second item thus competes with its
  // first, and under MMR is paid less for repeating it.
  const uint32_t busiest = base + (extra > 0 ? 1 : 0);
  const uint32_t waves = std::max<uint32_t>(
      1, std::min<uint32_t>(options_.max_scoring_waves,
                            std::max(busiest, platform_items / std::max(creators_, 1u))));
  std::vector<std::vector<size_t>> wave_slots(waves);
  for (size_t i = 0; i < slots.size(); ++i) {
    wave_slots[slots[i].ordinal % waves].push_back(i);
  }
  std::vector<float> context;  // the chosen items of the waves so far
  const size_t chunk = std::max<size_t>(1, options_.items_per_scoring_chunk);
  for (const std::vector<size_t>& wave : wave_slots) {
    for (size_t first = 0; first < wave.size(); first += chunk) {
      FEEDLOOP_RETURN_IF_ERROR(cancel_->Check());
      const size_t n = std::min(chunk, wave.size() - first);
      std::vector<float> candidates(n * per_item * dim_);
      auto draw = [&](size_t i) {
        const Slot& s = slots[wave[first + i]];
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
        // All of the chunk's candidates in one call; the same users (seeded
        // by the round) judge every candidate of the round.
        FEEDLOOP_ASSIGN_OR_RETURN(
            scores, reward_->Score(run_id_, round, candidates, context, dim_,
                                   g.reward_users(), reward_seed, *cancel_));
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
                    chosen.begin() + wave[first + i] * dim_);
      }
    }
    if (per_item > 1) {
      for (size_t i : wave) {
        context.insert(context.end(), chosen.begin() + i * dim_,
                       chosen.begin() + (i + 1) * dim_);
      }
    }
  }
  *drawn = uint64_t{per_item} * slots.size();

  items.creators.reserve(slots.size());
  for (const Slot& s : slots) items.creators.push_back(s.creator);
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
  std::vector<double> engagements(last_->size(), 0.0);
  absl::flat_hash_set<uint64_t> seen;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const v1::ItemOutcome& o = outcomes[i];
    const std::optional<size_t> row = last_->RowOf(o.item_id());
    if (!row.has_value()) {
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
    engagements[*row] = o.engagements();
  }

  // The creators adapt to these outcomes when the next round is generated
  // (with the ranker's state after this round's feedback).
  observed_engagements_ = engagements;
  observed_round_ = round;

  const double alpha = config_.generator().alpha();
  if (config_.generator().ai_share() > 0 && alpha > 0) {
    platform_.Refit(last_->embeddings, engagements, alpha);
  }
  awaiting_observe_ = false;
  observed_ = std::move(last_);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Generator::AdaptedCentres(
    uint32_t round, const std::vector<double>& engagements) {
  switch (config_.generator().creator_policy()) {
    case v1::GeneratorConfig::TREND_CHASING:
      return TrendChasing(engagements);
    case v1::GeneratorConfig::IMITATION:
      return Imitation(engagements);
    case v1::GeneratorConfig::BEST_RESPONSE:
      break;
  }
  return BestResponse(round);
}

// Moves centre m toward `target` by adaptation_rate (both unit vectors);
// leaves it when the step is degenerate.
void Generator::StepToward(std::span<float> m, std::span<const double> target) const {
  const double rate = config_.generator().adaptation_rate();
  std::vector<double> next(dim_);
  for (uint32_t d = 0; d < dim_; ++d) next[d] = (1 - rate) * m[d] + rate * target[d];
  if (!Normalize(std::span<double>(next))) return;
  for (uint32_t d = 0; d < dim_; ++d) m[d] = static_cast<float>(next[d]);
}

// normalize(alpha * pull + (1 - alpha) * home), or nothing when degenerate.
std::optional<std::vector<double>> Generator::Blend(std::span<const double> pull,
                                                    uint32_t creator) const {
  const double alpha = config_.generator().alpha();
  const float* h = homes_.data() + size_t{creator} * dim_;
  std::vector<double> target(dim_);
  for (uint32_t d = 0; d < dim_; ++d) target[d] = alpha * pull[d] + (1 - alpha) * h[d];
  if (!Normalize(std::span<double>(target))) return std::nullopt;
  return target;
}

std::vector<float> Generator::TrendChasing(const std::vector<double>& engagements) const {
  // One shared target for everyone: the most engaged items, weighted by
  // engagements.
  std::vector<uint32_t> order(observed_->size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return engagements[a] != engagements[b] ? engagements[a] > engagements[b] : a < b;
  });
  const size_t winners = static_cast<size_t>(
      std::ceil(config_.generator().winners_fraction() * observed_->size()));
  std::vector<double> w(dim_, 0.0);
  for (size_t r = 0; r < winners && r < order.size(); ++r) {
    const uint32_t i = order[r];
    if (engagements[i] <= 0) break;
    const std::span<const float> e = observed_->embedding(i);
    for (uint32_t d = 0; d < dim_; ++d) w[d] += engagements[i] * e[d];
  }
  const bool have_winners = Normalize(std::span<double>(w));
  std::vector<float> centres = centres_;
  for (uint32_t c = 0; c < creators_; ++c) {
    std::span<float> m(centres.data() + size_t{c} * dim_, dim_);
    // Without winners the coupled part of the target is "stay put".
    std::vector<double> pull(dim_);
    for (uint32_t d = 0; d < dim_; ++d) pull[d] = have_winners ? w[d] : m[d];
    if (auto target = Blend(pull, c)) StepToward(m, *target);
  }
  return centres;
}

std::vector<float> Generator::Imitation(const std::vector<double>& engagements) const {
  // Each creator's payoff this round: engagements per item it published.
  std::vector<double> earned(creators_, 0.0), published(creators_, 0.0);
  for (size_t i = 0; i < observed_->size(); ++i) {
    const uint32_t c = observed_->creators[i];
    if (c >= creators_) continue;  // the platform's own items
    earned[c] += engagements[i];
    published[c] += 1;
  }
  std::vector<double> payoff(creators_, 0.0);
  for (uint32_t c = 0; c < creators_; ++c) {
    payoff[c] = published[c] > 0 ? earned[c] / published[c] : 0;
  }
  const size_t k = std::min<size_t>(config_.generator().neighbours(), creators_ - 1);
  std::vector<float> centres = centres_;
  std::vector<std::pair<double, uint32_t>> near;
  for (uint32_t c = 0; c < creators_; ++c) {
    const std::span<const float> mc(centres_.data() + size_t{c} * dim_, dim_);
    near.clear();
    for (uint32_t o = 0; o < creators_; ++o) {
      if (o == c) continue;
      near.emplace_back(
          -Dot(mc, std::span<const float>(centres_.data() + size_t{o} * dim_, dim_)), o);
    }
    std::partial_sort(near.begin(), near.begin() + k, near.end());
    // The neighbours doing better, weighted by how much better.
    std::vector<double> pull(dim_, 0.0);
    bool any = false;
    for (size_t j = 0; j < k; ++j) {
      const uint32_t o = near[j].second;
      const double gain = payoff[o] - payoff[c];
      if (gain <= 0) continue;
      any = true;
      for (uint32_t d = 0; d < dim_; ++d) pull[d] += gain * centres_[size_t{o} * dim_ + d];
    }
    if (!any || !Normalize(std::span<double>(pull))) {
      for (uint32_t d = 0; d < dim_; ++d) pull[d] = mc[d];
    }
    if (auto target = Blend(pull, c)) {
      StepToward(std::span<float>(centres.data() + size_t{c} * dim_, dim_), *target);
    }
  }
  return centres;
}

double Generator::ProductionCost(std::span<const float> m) const {
  const auto& g = config_.generator();
  if (g.cost_weight() <= 0) return 0;
  double sum = 0;
  for (uint32_t t = 0; t < space_.topics(); ++t) {
    const double x = std::max(0.0, Dot(m, space_.Centre(t)));
    sum += std::pow(x, g.cost_norm());
  }
  return g.cost_weight() * std::pow(sum, 1.0 / g.cost_norm());
}

absl::StatusOr<std::vector<double>> Generator::Objective(uint32_t round,
                                                          std::span<const float> rows,
                                                          uint32_t per_creator,
                                                          uint64_t stream) const {
  // alpha * log(reward) + (1 - alpha) * <m, h_c> - cost(m), per row; rows
  // come per_creator at a time, creator by creator. At alpha 0 the ranker
  // is never asked: nothing of its can matter.
  const auto& g = config_.generator();
  const double alpha = g.alpha();
  const size_t n = rows.size() / dim_;
  std::vector<float> reward;
  if (alpha > 0) {
    FEEDLOOP_ASSIGN_OR_RETURN(
        reward, reward_->Score(run_id_, round + 1, rows, {}, dim_, g.reward_users(),
                               DeriveSeed(config_.seed(), stream, round), *cancel_));
    if (reward.size() != n) {
      return absl::InternalError("reward model returned the wrong count");
    }
  }
  std::vector<double> value(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = static_cast<uint32_t>(i / per_creator);
    const std::span<const float> m = rows.subspan(i * dim_, dim_);
    const std::span<const float> h(homes_.data() + size_t{c} * dim_, dim_);
    value[i] = (1 - alpha) * Dot(m, h) - ProductionCost(m);
    if (alpha > 0) value[i] += alpha * std::log(reward[i] + kRewardFloor);
  }
  return value;
}

absl::StatusOr<std::vector<float>> Generator::BestResponse(uint32_t round) const {
  const auto& g = config_.generator();
  const uint32_t pairs = std::max<uint32_t>(1, g.probes() / 2);
  const uint32_t per = 1 + 2 * pairs;
  // Step 1: the centre and antithetic pairs m +- spread * eps around it,
  // seeded by (run seed, round, creator).
  std::vector<float> rows(size_t{creators_} * per * dim_);
  std::vector<float> eps(dim_);
  const double noise = g.probe_spread() / std::sqrt(static_cast<double>(dim_));
  for (uint32_t c = 0; c < creators_; ++c) {
    const float* mc = centres_.data() + size_t{c} * dim_;
    Rng rng(DeriveSeed(config_.seed(), kProbeStream, round, c));
    float* base = rows.data() + size_t{c} * per * dim_;
    std::copy(mc, mc + dim_, base);
    for (uint32_t p = 0; p < pairs; ++p) {
      for (float& x : eps) x = static_cast<float>(noise * rng.Normal());
      float* plus = base + (1 + 2 * p) * dim_;
      float* minus = plus + dim_;
      for (uint32_t d = 0; d < dim_; ++d) {
        plus[d] = mc[d] + eps[d];
        minus[d] = mc[d] - eps[d];
      }
      if (!Normalize(std::span<float>(plus, dim_))) std::copy(mc, mc + dim_, plus);
      if (!Normalize(std::span<float>(minus, dim_))) std::copy(mc, mc + dim_, minus);
    }
  }
  FEEDLOOP_ASSIGN_OR_RETURN(std::vector<double> value,
                            Objective(round, rows, per, kProbeRewardStream));
  // Step 2: one step of the probe's size along the ascent direction the
  // pairs estimate (a finite-difference gradient, tangent to the sphere).
  std::vector<float> steps(size_t{creators_} * dim_);
  std::vector<double> grad(dim_);
  for (uint32_t c = 0; c < creators_; ++c) {
    const float* base = rows.data() + size_t{c} * per * dim_;
    std::fill(grad.begin(), grad.end(), 0.0);
    for (uint32_t p = 0; p < pairs; ++p) {
      const size_t i = size_t{c} * per + 1 + 2 * p;
      const double diff = value[i] - value[i + 1];
      const float* plus = base + (1 + 2 * p) * dim_;
      const float* minus = plus + dim_;
      for (uint32_t d = 0; d < dim_; ++d) grad[d] += diff * (plus[d] - minus[d]);
    }
    const double along = Dot(std::span<const double>(grad),
                             std::span<const double>(std::vector<double>(base, base + dim_)));
    for (uint32_t d = 0; d < dim_; ++d) grad[d] -= along * base[d];
    float* step = steps.data() + size_t{c} * dim_;
    const double norm = Norm(grad);
    for (uint32_t d = 0; d < dim_; ++d) {
      step[d] = static_cast<float>(base[d] + (norm > 0 ? g.probe_spread() * grad[d] / norm : 0));
    }
    if (!Normalize(std::span<float>(step, dim_))) std::copy(base, base + dim_, step);
  }
  FEEDLOOP_ASSIGN_OR_RETURN(std::vector<double> step_value,
                            Objective(round, steps, 1, kProbeRewardStream));
  // Move toward the best point found, if it beats staying.
  std::vector<float> centres = centres_;
  std::vector<double> best(dim_);
  for (uint32_t c = 0; c < creators_; ++c) {
    const float* base = rows.data() + size_t{c} * per * dim_;
    const float* pick = base;
    double pick_value = value[size_t{c} * per];
    for (uint32_t k = 1; k < per; ++k) {
      if (value[size_t{c} * per + k] > pick_value) {
        pick_value = value[size_t{c} * per + k];
        pick = base + k * dim_;
      }
    }
    if (step_value[c] > pick_value) pick = steps.data() + size_t{c} * dim_;
    if (pick == base) continue;  // staying is best
    for (uint32_t d = 0; d < dim_; ++d) best[d] = pick[d];
    StepToward(std::span<float>(centres.data() + size_t{c} * dim_, dim_), best);
  }
  return centres;
}

double Generator::CreatorDriftLocked() const {
  // 1 - <m, h> as |m - h|^2 / 2 (equal for unit vectors): exactly 0 for a
  // creator at home, never negative.
  double sum = 0;
  for (size_t i = 0; i < centres_.size(); ++i) {
    const double d = double{centres_[i]} - homes_[i];
    sum += d * d;
  }
  return sum / 2 / creators_;
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
  s.set_generated(awaiting_observe_);
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
