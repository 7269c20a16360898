#include "ranker/slate_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/vectors.h"

namespace feedloop::ranker {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

}  // namespace

SlatePolicy::SlatePolicy(const v1::ExperimentConfig& config)
    : dim_(config.space().dim()),
      lambda_(config.ranker().mmr_lambda()),
      temperature_(config.ranker().temperature()),
      epsilon_(config.ranker().epsilon()),
      decay_(config.ranker().reward_position_decay()),
      smoothing_(config.ranker().reward_smoothing()) {}

SlatePolicy::Picked SlatePolicy::Order(std::span<const Candidate> c, uint32_t size,
                                       Rng* rng) const {
  return OrderAt(c, size, rng, temperature_);
}

SlatePolicy::Picked SlatePolicy::OrderAt(std::span<const Candidate> c, uint32_t size,
                                         Rng* rng, double temperature) const {
  const size_t n = c.size();
  const size_t s = std::min<size_t>(size, n);
  Picked out;
  out.order.reserve(s);
  out.values.reserve(s);
  // Score order (ties by candidate order) breaks value ties.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return c[a].score > c[b].score; });
  if (lambda_ <= 0 && temperature <= 0) {
    for (size_t k = 0; k < s; ++k) {
      out.order.push_back(order[k]);
      out.values.push_back(c[order[k]].score);
    }
    return out;
  }
  std::vector<double> max_sim(n, kNegInf);
  std::vector<bool> taken(n, false);
  std::vector<double> value(n);
  for (size_t step = 0; step < s; ++step) {
    for (size_t i : order) {
      if (taken[i]) continue;
      const double penalty = step == 0 || lambda_ <= 0 ? 0.0 : max_sim[i];
      value[i] = (1 - lambda_) * c[i].score - lambda_ * penalty;
    }
    size_t best = n;
    if (temperature <= 0) {
      double best_value = kNegInf;
      for (size_t i : order) {
        if (!taken[i] && value[i] > best_value) {
          best_value = value[i];
          best = i;
        }
      }
    } else {
      double top = kNegInf;
      for (size_t i : order) {
        if (!taken[i]) top = std::max(top, value[i]);
      }
      double total = 0;
      for (size_t i : order) {
        if (!taken[i]) total += std::exp((value[i] - top) / temperature);
      }
      double u = rng->Uniform() * total;
      for (size_t i : order) {
        if (taken[i]) continue;
        best = i;
        u -= std::exp((value[i] - top) / temperature);
        if (u < 0) break;
      }
    }
    taken[best] = true;
    out.order.push_back(best);
    out.values.push_back(value[best]);
    if (lambda_ > 0) {
      const std::span<const float> picked(c[best].vec, dim_);
      for (size_t i = 0; i < n; ++i) {
        if (!taken[i]) {
          max_sim[i] = std::max(max_sim[i], Dot(std::span<const float>(c[i].vec, dim_), picked));
        }
      }
    }
  }
  return out;
}

SlatePolicy::View SlatePolicy::ViewOf(std::span<const Candidate> c, uint32_t size,
                                      size_t live) const {
  View v;
  v.size = size;
  v.live = live;
  // The greedy slate (temperature 0), whatever the temperature: at
  // temperature 0 it is the slate; above, only its partition is used.
  const Picked p = OrderAt(c, size, nullptr, /*temperature=*/0);
  for (size_t k = 0; k < p.order.size(); ++k) {
    v.slate.push_back(c[p.order[k]].vec);
    v.values.push_back(p.values[k]);
  }
  if (temperature_ > 0) {
    double top = kNegInf;
    for (const Candidate& x : c) top = std::max(top, (1 - lambda_) * x.score);
    double total = 0;
    for (const Candidate& x : c) total += std::exp(((1 - lambda_) * x.score - top) / temperature_);
    v.log_partition = c.empty() ? kNegInf : top / temperature_ + std::log(total);
  }
  return v;
}

double SlatePolicy::MeanExamination(uint32_t size) const {
  if (size == 0) return 0;
  double sum = 0, p = 1;
  for (uint32_t k = 0; k < size; ++k, p *= decay_) sum += p;
  return sum / size;
}

double SlatePolicy::Beats(double margin) const {
  if (smoothing_ <= 0) return margin > 0 ? 1.0 : 0.0;
  // Past 30 smoothing widths the sigmoid is 1 or 0 to 1e-13.
  const double z = margin / smoothing_;
  if (z > 30) return 1.0;
  if (z < -30) return 0.0;
  return 1.0 / (1.0 + std::exp(-z));
}

double SlatePolicy::ExpectedExamination(double score, std::span<const float> vec,
                                        const View& view, double retrieval) const {
  double policy = 0;
  if (retrieval <= 0) {
    // Not among the user's candidates: only exploration can show it.
  } else if (temperature_ <= 0 && view.slate.size() >= view.size && view.size > 0 &&
             Beats((1 - lambda_) * score - view.values.back()) == 0) {
    // Chosen values only fall along a greedy slate and the item's own only
    // falls with MMR: below the last one, it beats none.
  } else if (temperature_ <= 0) {
    // The position it would take in the greedy slate: the first whose item
    // it beats, each comparison smoothed by the ranker's score noise.
    double max_sim = kNegInf;
    double not_yet = 1;
    double decay = 1;
    for (size_t j = 0; j < view.size && not_yet > 1e-12; ++j, decay *= decay_) {
      double beats = 1;  // a short slate has room at its end
      if (j < view.slate.size()) {
        const double penalty = j == 0 || lambda_ <= 0 ? 0.0 : max_sim;
        beats = Beats((1 - lambda_) * score - lambda_ * penalty - view.values[j]);
        if (lambda_ > 0) {
          max_sim = std::max(max_sim, Dot(vec, std::span<const float>(view.slate[j], dim_)));
        }
      }
      policy += decay * beats * not_yet;
      not_yet *= 1 - beats;
    }
    policy *= retrieval;
  } else {
    // Its softmax share among the candidates, for each of the slate's draws.
    const double own = (1 - lambda_) * score / temperature_;
    const double top = std::max(own, view.log_partition);
    const double share =
        std::exp(own - top) / (std::exp(own - top) + std::exp(view.log_partition - top));
    const double in_slate = 1 - std::pow(1 - share, static_cast<double>(view.size));
    policy = retrieval * in_slate * MeanExamination(view.size);
  }
  if (epsilon_ <= 0) return policy;
  const double explored =
      view.live == 0 ? 0
                     : std::min(1.0, static_cast<double>(view.size) / (view.live + 1)) *
                           MeanExamination(view.size);
  return (1 - epsilon_) * policy + epsilon_ * explored;
}

}  // namespace feedloop::ranker
