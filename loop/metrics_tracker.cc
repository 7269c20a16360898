#include "loop/metrics_tracker.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "common/random.h"
#include "common/vectors.h"
#include "metrics/content.h"
#include "metrics/diversity.h"

namespace feedloop::loop {
namespace {

constexpr uint64_t kPairStream = 0x3e71;
constexpr uint64_t kJaccardStream = 0x3e72;

void Add(std::vector<v1::MetricValue>* out, const char* name, double value) {
  v1::MetricValue& v = out->emplace_back();
  v.set_name(name);
  v.set_value(value);
}

}  // namespace

MetricsTracker::MetricsTracker(const v1::ExperimentConfig& config,
                               const model::TopicSpace& space)
    : config_(config), space_(space) {}

void MetricsTracker::AddItems(uint32_t round, const std::vector<v1::Item>& items) {
  new_ids_.clear();
  for (const v1::Item& item : items) {
    ItemState& s = items_[item.id()];
    s.round = round;
    s.creator = item.creator_id();
    s.platform = item.platform_generated();
    s.embedding.assign(item.embedding().begin(), item.embedding().end());
    live_.push_back(item.id());
    new_ids_.push_back(item.id());
  }
  std::sort(live_.begin(), live_.end());
}

std::span<const float> MetricsTracker::Embedding(uint64_t id) const {
  auto it = items_.find(id);
  if (it == items_.end()) return {};
  return it->second.embedding;
}

std::vector<v1::MetricValue> MetricsTracker::FinishRound(const RoundInput& in) {
  const uint32_t dim = config_.space().dim();
  const uint32_t round = in.round;
  const auto& mc = config_.metrics();
  std::vector<v1::MetricValue> out;

  // ---- content: the round's new items; round 0 sets the tail threshold.
  std::vector<float> rows;
  rows.reserve(new_ids_.size() * dim);
  for (uint64_t id : new_ids_) {
    const auto& e = items_.at(id).embedding;
    rows.insert(rows.end(), e.begin(), e.end());
  }
  if (tail_threshold_ < 0) {
    tail_threshold_ = metrics::Quantile(metrics::TopicDistances(rows, dim, space_),
                                        mc.tail_quantile());
  }
  Rng pair_rng(DeriveSeed(config_.seed(), kPairStream, round));
  out = metrics::ContentMetrics(rows, dim, &space_, tail_threshold_,
                                mc.pair_samples(), pair_rng);
  Add(&out, "creators.drift", in.creator_drift);

  // ---- exposure and consumption: what users examined and engaged.
  const auto& slates = *in.slates;
  const auto& consumption = *in.consumption;
  absl::flat_hash_map<uint64_t, uint64_t> shown;  // impressions this round
  std::vector<double> creator_impressions(config_.creators().count(), 0.0);
  double impressions = 0, engagements = 0, platform_impressions = 0;
  double utility_sum = 0, ild_sum = 0;
  size_t utility_n = 0, underserved = 0, ild_n = 0;
  std::vector<std::vector<uint64_t>> engaged_by_user(slates.size());
  for (size_t u = 0; u < slates.size(); ++u) {
    const v1::Slate& slate = slates[u];
    const Consumption& c = consumption[u];
    // Intra-list diversity of the slate as shown.
    double pair_sum = 0;
    size_t pairs = 0;
    for (int i = 0; i < slate.item_ids_size(); ++i) {
      for (int j = i + 1; j < slate.item_ids_size(); ++j) {
        pair_sum += 1 - Dot(Embedding(slate.item_ids(i)), Embedding(slate.item_ids(j)));
        ++pairs;
      }
    }
    if (pairs > 0) {
      ild_sum += pair_sum / pairs;
      ++ild_n;
    }
    double user_affinity = 0;
    size_t user_engaged = 0;
    for (size_t k = 0; k < c.positions.size(); ++k) {
      const uint64_t id = slate.item_ids(c.positions[k]);
      const ItemState& s = items_.at(id);
      ++shown[id];
      impressions += 1;
      if (s.platform) {
        platform_impressions += 1;
      } else if (s.creator < creator_impressions.size()) {
        creator_impressions[s.creator] += 1;
      }
      if (c.engaged[k]) {
        engagements += 1;
        const double a = in.users->Affinity(slate.user_id(), s.embedding);
        utility_sum += a;
        ++utility_n;
        user_affinity += a;
        ++user_engaged;
        engaged_by_user[u].push_back(id);
      }
    }
    const double mean_affinity = user_engaged ? user_affinity / user_engaged : 0;
    underserved += mean_affinity < mc.underserved_threshold();
  }
  std::vector<double> item_impressions;
  item_impressions.reserve(live_.size());
  size_t covered = 0;
  for (uint64_t id : live_) {
    auto it = shown.find(id);
    const double n = it == shown.end() ? 0 : static_cast<double>(it->second);
    item_impressions.push_back(n);
    if (n > 0) {
      ++covered;
      ItemState& s = items_.at(id);
      s.impressions += static_cast<uint64_t>(n);
      if (s.first_seen < 0) s.first_seen = round;
      s.last_seen = round;
    }
  }
  Add(&out, "exposure.gini_items", metrics::Gini(item_impressions));
  Add(&out, "exposure.gini_creators", metrics::Gini(creator_impressions));
  Add(&out, "exposure.entropy_creators",
      metrics::NormalizedEntropy(creator_impressions, creator_impressions.size()));
  Add(&out, "exposure.coverage",
      live_.empty() ? 0 : static_cast<double>(covered) / live_.size());
  Add(&out, "exposure.top1pct_share", metrics::TopShare(item_impressions, 0.01));
  Add(&out, "exposure.ai_share",
      impressions > 0 ? platform_impressions / impressions : 0);
  Add(&out, "slate.ild", ild_n ? ild_sum / ild_n : 0);

  // Homogenization: Jaccard of what sampled user pairs consumed over the
  // last W rounds.
  window_.push_back(std::move(engaged_by_user));
  while (window_.size() > mc.jaccard_window()) window_.pop_front();
  const size_t users = slates.size();
  double jaccard = 0;
  if (users >= 2) {
    Rng rng(DeriveSeed(config_.seed(), kJaccardStream, round));
    auto pooled = [&](size_t u) {
      absl::flat_hash_set<uint64_t> set;
      for (const auto& r : window_) {
        if (u < r.size()) set.insert(r[u].begin(), r[u].end());
      }
      return set;
    };
    for (uint32_t p = 0; p < mc.jaccard_pairs(); ++p) {
      const size_t a = rng.UniformInt(users);
      size_t b = rng.UniformInt(users - 1);
      if (b >= a) ++b;
      jaccard += metrics::Jaccard(pooled(a), pooled(b));
    }
    jaccard /= mc.jaccard_pairs();
  }
  Add(&out, "consumption.jaccard", jaccard);
  Add(&out, "consumption.engagement_rate",
      impressions > 0 ? engagements / impressions : 0);
  Add(&out, "consumption.utility", utility_n ? utility_sum / utility_n : 0);
  Add(&out, "consumption.underserved",
      users ? static_cast<double>(underserved) / users : 0);
  Add(&out, "users.interest_drift", in.users->MeanInterestDrift());

  // ---- lifecycle: items whose last live round is this one.
  const uint32_t ttl = config_.ranker().item_ttl_rounds();
  std::vector<double> lifetimes;
  size_t expiring = 0, never_seen = 0;
  for (uint64_t id : live_) {
    const ItemState& s = items_.at(id);
    if (s.round + ttl - 1 > round) continue;
    ++expiring;
    if (s.first_seen < 0) {
      ++never_seen;
    } else {
      lifetimes.push_back(static_cast<double>(s.last_seen - s.first_seen));
    }
  }
  if (!lifetimes.empty()) {
    Add(&out, "lifecycle.median_lifetime", metrics::Quantile(lifetimes, 0.5));
  }
  if (expiring > 0) {
    Add(&out, "lifecycle.never_seen", static_cast<double>(never_seen) / expiring);
  }
  Add(&out, "lifecycle.items_per_attention",
      static_cast<double>(new_ids_.size()) /
          (static_cast<double>(config_.users().count()) *
           config_.users().attention()));
  return out;
}

void MetricsTracker::RetireExpired(uint32_t round) {
  const uint32_t ttl = config_.ranker().item_ttl_rounds();
  std::vector<uint64_t> still_live;
  still_live.reserve(live_.size());
  for (uint64_t id : live_) {
    if (items_.at(id).round + ttl - 1 > round) {
      still_live.push_back(id);
    } else {
      items_.erase(id);
    }
  }
  live_ = std::move(still_live);
}

}  // namespace feedloop::loop
