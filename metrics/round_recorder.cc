#include "metrics/round_recorder.h"

#include <algorithm>
#include <cmath>

#include "common/random.h"
#include "config/cost.h"
#include "common/vectors.h"
#include "metrics/content.h"
#include "metrics/diversity.h"
#include "metrics/metric_value.h"
#include "model/item_life.h"

namespace feedloop::metrics {
namespace {

constexpr const char* kNoneShown = "no item was shown this round";

// Stream tags for DeriveSeed (0x3e71 and 0x3e72 are the first wave's, kept
// so that the sampled metrics that did not change keep their samples).
constexpr uint64_t kPairStream = 0x3e71;
constexpr uint64_t kWindowPairStream = 0x3e72;
constexpr uint64_t kTailSplitStream = 0x3e73;

}  // namespace

TailReference::Options TailOptionsFor(const v1::ExperimentConfig& config) {
  const v1::MetricsConfig& mc = config.metrics();
  TailReference::Options o;
  o.dim = config.space().dim();
  o.neighbors = mc.tail_neighbors();
  o.quantile = mc.tail_quantile();
  o.max_reference = mc.tail_reference();
  o.seed = DeriveSeed(config.seed(), kTailSplitStream);
  return o;
}

RoundRecorder::RoundRecorder(const v1::ExperimentConfig& config)
    : config_(config),
      dim_(config.space().dim()),
      ttl_(config.ranker().item_ttl_rounds()),
      space_(model::TopicSpace::FromConfig(config)) {}

void RoundRecorder::AddItems(uint32_t round, std::span<const v1::Item> items) {
  auto [slot, first] = blocks_.try_emplace(round);
  Block& block = slot->second;
  if (first) {
    const size_t expected = static_cast<size_t>(config::ItemsInRound(config_, round));
    block.rows.reserve(expected * dim_);
    block.states.reserve(expected);
  }
  for (const v1::Item& item : items) {
    where_[item.id()] = Where{round, static_cast<uint32_t>(block.states.size())};
    ItemState& s = block.states.emplace_back();
    s.creator = item.creator_id();
    s.platform = item.platform_generated();
    block.rows.insert(block.rows.end(), item.embedding().begin(), item.embedding().end());
    live_.push_back(item.id());
  }
}

void RoundRecorder::EndItems(uint32_t round) {
  blocks_.try_emplace(round);  // a round of no items has an empty block
  std::sort(live_.begin(), live_.end());
  if (round == 0) tail_ = TailReference::Build(blocks_[0].rows, TailOptionsFor(config_));
}

std::span<const float> RoundRecorder::Embedding(uint64_t id) const {
  auto it = where_.find(id);
  if (it == where_.end()) return {};
  const std::vector<float>& rows = blocks_.at(it->second.round).rows;
  return std::span<const float>(rows.data() + size_t{it->second.row} * dim_, dim_);
}

void RoundRecorder::MeasureContent(uint32_t round,
                                   std::vector<v1::MetricValue>* out) const {
  // The round's new items are its block of rows, in the order added.
  static const Block kNone;
  auto found = blocks_.find(round);
  const Block& block = found == blocks_.end() ? kNone : found->second;
  const std::vector<float>& rows = block.rows;
  std::vector<int64_t> creators;
  creators.reserve(block.states.size());
  for (const ItemState& s : block.states) {
    creators.push_back(s.platform ? -1 : int64_t{s.creator});
  }
  ContentOptions o;
  o.creators = creators;
  o.space = &space_;
  o.tail = &tail_;
  o.round_zero = round == 0;
  o.pair_samples = config_.metrics().pair_samples();
  for (v1::MetricValue& v :
       ContentMetrics(rows, dim_, o, DeriveSeed(config_.seed(), kPairStream, round))) {
    out->push_back(std::move(v));
  }
}

void RoundRecorder::Record(uint32_t round,
                           std::span<const v1::Interaction> interactions) {
  const v1::MetricsConfig& mc = config_.metrics();
  absl::flat_hash_map<uint64_t, uint64_t> shown;
  std::vector<std::vector<uint64_t>> engaged(config_.users().count());
  for (const v1::Interaction& x : interactions) {
    const uint64_t id = x.item_id();
    ++shown[id];
    if (!x.engaged()) continue;
    if (x.user_id() < engaged.size()) engaged[x.user_id()].push_back(id);
    WindowItem& w = window_items_[id];
    if (w.embedding.empty()) {
      const std::span<const float> e = Embedding(id);
      w.embedding.assign(e.begin(), e.end());
    }
    w.last_engaged = round;
  }
  for (std::vector<uint64_t>& set : engaged) {
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
  }
  window_.push_back(std::move(engaged));
  while (window_.size() > mc.jaccard_window()) window_.pop_front();
  // Items engaged only before this round's window are no longer needed.
  const int64_t first = static_cast<int64_t>(round) + 1 - mc.jaccard_window();
  absl::erase_if(window_items_, [&](const auto& entry) {
    return static_cast<int64_t>(entry.second.last_engaged) < first;
  });
  for (const auto& [id, n] : shown) {
    const Where w = where_.at(id);
    ItemState& s = StateOf(w);
    s.impressions += n;
    if (s.first_seen < 0) s.first_seen = static_cast<int32_t>(round);
    s.last_seen = static_cast<int32_t>(round);
    s.by_age.emplace_back(round - w.round, n);
  }
}

std::vector<v1::MetricValue> RoundRecorder::Measure(const Observed& in) const {
  std::vector<v1::MetricValue> out;
  MeasureContent(in.round, &out);
  AddValue(&out, "creators.drift", in.creator_drift);
  const Tally tally = TallyOf(in);
  MeasureExposure(tally, &out);
  MeasureConsumption(in, tally, &out);
  MeasureWindow(in.round, config_.users().count(), &out);
  AddValue(&out, "users.interest_drift", in.interest_drift);
  MeasureLifecycle(in.round, tally.engagements, &out);
  return out;
}

RoundRecorder::Tally RoundRecorder::TallyOf(const Observed& in) const {
  const uint32_t creators = config_.creators().count();
  Tally t;
  t.creator_impressions.assign(creators, 0.0);
  for (const v1::Interaction& x : in.interactions) {
    const ItemState& s = StateOf(where_.at(x.item_id()));
    ++t.shown[x.item_id()];
    t.impressions += 1;
    if (s.platform) {
      t.platform_impressions += 1;
    } else if (s.creator < creators) {
      t.creator_impressions[s.creator] += 1;
    }
    if (x.engaged()) {
      t.engagements += 1;
      const std::span<const float> p =
          in.interests.subspan(size_t{x.user_id()} * dim_, dim_);
      auto& [affinity, count] = t.by_user[x.user_id()];
      affinity += Dot(p, Embedding(x.item_id()));
      ++count;
    }
  }
  return t;
}

// What was shown: of the live items, of the creators, of the platform.
void RoundRecorder::MeasureExposure(const Tally& t,
                                    std::vector<v1::MetricValue>* out) const {
  const uint32_t creators = config_.creators().count();
  std::vector<double> live_impressions, shown_impressions;
  live_impressions.reserve(live_.size());
  for (uint64_t id : live_) {
    auto it = t.shown.find(id);
    const double n = it == t.shown.end() ? 0 : static_cast<double>(it->second);
    live_impressions.push_back(n);
    if (n > 0) shown_impressions.push_back(n);
  }
  AddValueOr(out, "exposure.coverage",
             live_.empty() ? std::nullopt
                           : std::optional<double>(static_cast<double>(shown_impressions.size()) /
                                                   live_.size()),
             "no item is live");
  AddValueOr(out, "exposure.gini_shown",
             shown_impressions.size() >= 2 ? std::optional<double>(Gini(shown_impressions))
                                           : std::nullopt,
             "fewer than two items were shown this round");
  AddValueOr(out, "exposure.top1pct_share",
             t.impressions > 0 ? std::optional<double>(TopShare(live_impressions, 0.01))
                               : std::nullopt,
             kNoneShown);
  const double creator_total = t.impressions - t.platform_impressions;
  constexpr const char* kNoCreator = "no creator's item was shown this round";
  AddValueOr(out, "exposure.gini_creators",
             creator_total > 0 ? std::optional<double>(Gini(t.creator_impressions))
                               : std::nullopt,
             kNoCreator);
  AddValueOr(out, "exposure.entropy_creators",
             creator_total > 0 && creators >= 2
                 ? std::optional<double>(NormalizedEntropy(t.creator_impressions, creators))
                 : std::nullopt,
             creators < 2 ? "one creator: there is nothing to spread over" : kNoCreator);
  AddValueOr(out, "exposure.ai_share",
             t.impressions > 0 ? std::optional<double>(t.platform_impressions / t.impressions)
                               : std::nullopt,
             kNoneShown);
}

// What users were given and got from it: slate diversity, engagement,
// welfare, the underserved.
void RoundRecorder::MeasureConsumption(const Observed& in, const Tally& t,
                                       std::vector<v1::MetricValue>* out) const {
  const v1::MetricsConfig& mc = config_.metrics();
  const double attention = config_.users().attention();
  double affinity_sum = 0, welfare_sum = 0, ild_sum = 0;
  size_t underserved = 0, ild_n = 0;
  const size_t users = in.slates.size();
  for (const v1::Slate& slate : in.slates) {
    double pair_sum = 0;
    size_t pairs = 0;
    for (int a = 0; a < slate.item_ids_size(); ++a) {
      for (int b = a + 1; b < slate.item_ids_size(); ++b) {
        pair_sum += 1 - Dot(Embedding(slate.item_ids(a)), Embedding(slate.item_ids(b)));
        ++pairs;
      }
    }
    if (pairs > 0) {
      ild_sum += pair_sum / pairs;
      ++ild_n;
    }
    auto it = t.by_user.find(slate.user_id());
    const double user_affinity = it == t.by_user.end() ? 0 : it->second.first;
    const size_t user_engaged = it == t.by_user.end() ? 0 : it->second.second;
    affinity_sum += user_affinity;
    welfare_sum += user_affinity / attention;
    underserved += user_engaged == 0 ||
                   user_affinity / user_engaged < mc.underserved_threshold();
  }
  AddValueOr(out, "slate.ild", ild_n ? std::optional<double>(ild_sum / ild_n) : std::nullopt,
             "no slate holds two items");
  AddValueOr(out, "consumption.engagement_rate",
             t.impressions > 0 ? std::optional<double>(t.engagements / t.impressions)
                               : std::nullopt,
             kNoneShown);
  AddValueOr(out, "consumption.welfare",
             users > 0 ? std::optional<double>(welfare_sum / users) : std::nullopt,
             "no user was served");
  AddValueOr(out, "consumption.engaged_affinity",
             t.engagements > 0 ? std::optional<double>(affinity_sum / t.engagements)
                               : std::nullopt,
             "nobody engaged this round");
  AddValueOr(out, "consumption.underserved",
             users > 0 ? std::optional<double>(static_cast<double>(underserved) / users)
                       : std::nullopt,
             "no user was served");
}

void RoundRecorder::MeasureWindow(uint32_t round, size_t users,
                                  std::vector<v1::MetricValue>* out) const {
  const v1::MetricsConfig& mc = config_.metrics();
  // What each user engaged over the window, as one sorted set.
  auto pooled = [&](size_t u) {
    std::vector<uint64_t> set;
    for (const auto& r : window_) {
      if (u < r.size()) set.insert(set.end(), r[u].begin(), r[u].end());
    }
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
    return set;
  };
  std::vector<uint32_t> active;
  for (size_t u = 0; u < users; ++u) {
    bool any = false;
    for (const auto& r : window_) any |= u < r.size() && !r[u].empty();
    if (any) active.push_back(static_cast<uint32_t>(u));
  }
  if (active.size() < 2) {
    constexpr const char* kFew = "fewer than two users engaged anything in the window";
    AddAbsent(out, "consumption.similarity", kFew);
    AddAbsent(out, "consumption.jaccard", kFew);
  } else {
    // Pairs of distinct active users; the same pairs for both measures.
    Rng rng(DeriveSeed(config_.seed(), kWindowPairStream, round));
    double similarity = 0, jaccard = 0;
    std::vector<double> mean_a(dim_), mean_b(dim_);
    auto mean_of = [&](const std::vector<uint64_t>& set, std::vector<double>* m) {
      std::fill(m->begin(), m->end(), 0.0);
      for (uint64_t id : set) {
        const std::vector<float>& e = window_items_.at(id).embedding;
        for (uint32_t d = 0; d < dim_; ++d) (*m)[d] += e[d];
      }
      for (double& x : *m) x /= static_cast<double>(set.size());
    };
    for (uint32_t p = 0; p < mc.jaccard_pairs(); ++p) {
      const size_t a = rng.UniformInt(active.size());
      size_t b = rng.UniformInt(active.size() - 1);
      if (b >= a) ++b;
      const std::vector<uint64_t> sa = pooled(active[a]), sb = pooled(active[b]);
      jaccard += *Jaccard(sa, sb);
      mean_of(sa, &mean_a);
      mean_of(sb, &mean_b);
      similarity += Dot(std::span<const double>(mean_a), std::span<const double>(mean_b));
    }
    AddValue(out, "consumption.similarity", similarity / mc.jaccard_pairs());
    AddValue(out, "consumption.jaccard", jaccard / mc.jaccard_pairs());
  }
  AddValueOr(out, "consumption.idle_users",
             users > 0 ? std::optional<double>(1.0 - static_cast<double>(active.size()) /
                                                         static_cast<double>(users))
                       : std::nullopt,
             "the run has no users");
}

namespace {

// The age by which an item had half of its impressions, impressions within
// a round spread evenly over it: 0.5 for an item seen in its first round
// only, 2.0 for one seen equally in its first four.
double AttentionHalfLife(const std::vector<std::pair<uint32_t, uint64_t>>& by_age,
                         uint64_t total) {
  const double half = static_cast<double>(total) / 2;
  double before = 0;
  for (const auto& [age, n] : by_age) {
    if (before + static_cast<double>(n) >= half) {
      return age + (half - before) / static_cast<double>(n);
    }
    before += static_cast<double>(n);
  }
  return by_age.empty() ? 0 : by_age.back().first + 1.0;
}

}  // namespace

double RoundRecorder::NewItems(uint32_t round) const {
  auto block = blocks_.find(round);
  return block == blocks_.end() ? 0 : static_cast<double>(block->second.states.size());
}

void RoundRecorder::MeasureLifecycle(uint32_t round, double engagements,
                                     std::vector<v1::MetricValue>* out) const {
  size_t expiring = 0, never_seen = 0, one_round = 0, seen = 0;
  double seen_impressions = 0, weighted_half_life = 0;
  for (uint64_t id : live_) {
    const Where w = where_.at(id);
    if (model::LastLiveRound(w.round, ttl_) != round) continue;
    const ItemState& s = StateOf(w);
    ++expiring;
    if (s.first_seen < 0) {
      ++never_seen;
      continue;
    }
    ++seen;
    const double impressions = static_cast<double>(s.impressions);
    seen_impressions += impressions;
    weighted_half_life += impressions * AttentionHalfLife(s.by_age, s.impressions);
    one_round += s.last_seen == s.first_seen;
  }
  AddValueOr(out, "lifecycle.never_seen",
             expiring > 0 ? std::optional<double>(static_cast<double>(never_seen) / expiring)
                          : std::nullopt,
             "no item expires this round");
  const char* no_seen =
      expiring > 0 ? "no expiring item was ever shown" : "no item expires this round";
  AddValueOr(out, "lifecycle.impressions_per_item",
             seen > 0 ? std::optional<double>(seen_impressions / seen) : std::nullopt,
             no_seen);
  AddValueOr(out, "lifecycle.attention_halflife",
             seen > 0 ? std::optional<double>(weighted_half_life / seen_impressions)
                      : std::nullopt,
             no_seen);
  AddValueOr(out, "lifecycle.one_round_share",
             seen > 0 ? std::optional<double>(static_cast<double>(one_round) / seen)
                      : std::nullopt,
             no_seen);
  AddValueOr(out, "lifecycle.items_per_engagement",
             engagements > 0 ? std::optional<double>(NewItems(round) / engagements)
                             : std::nullopt,
             "nobody engaged this round");
}

void RoundRecorder::RetireExpired(uint32_t round) {
  std::vector<uint64_t> still_live;
  still_live.reserve(live_.size());
  for (uint64_t id : live_) {
    if (model::LastLiveRound(where_.at(id).round, ttl_) > round) {
      still_live.push_back(id);
    } else {
      where_.erase(id);
    }
  }
  live_ = std::move(still_live);
  absl::erase_if(blocks_, [&](const auto& block) {
    return model::LastLiveRound(block.first, ttl_) <= round;
  });
}

}  // namespace feedloop::metrics
