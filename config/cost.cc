#include "config/cost.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "config/limits.h"

namespace feedloop::config {
namespace {

constexpr uint64_t kFloat = sizeof(float);
// An item as a protobuf message in memory, beyond its embedding: the
// message, its repeated field's header and its title.
constexpr uint64_t kItemOverhead = 128;
// One entry of a hash set or map of 64-bit ids, at its load factor.
constexpr uint64_t kSetEntry = 20;
// An interaction or a slate entry as a message in a repeated field.
constexpr uint64_t kInteraction = 64;
constexpr uint64_t kSlateEntry = 24;

// What the allocator adds to the bytes a structure asks for (headers,
// fragmentation, vectors grown past their size): measured peaks run 1.1 to
// 1.8 times the terms' raw sizes (tests/memory_estimate_test.cc).
constexpr double kAllocatorOverhead = 1.25;

class Terms {
 public:
  void Add(std::string what, double bytes) {
    if (bytes <= 0) return;
    terms_.push_back({std::move(what), static_cast<uint64_t>(
                                           std::min(bytes * kAllocatorOverhead, 1.8e19))});
  }
  MemoryEstimate Done() && { return Finished(std::move(terms_)); }

  // Terms largest first, and their sum.
  static MemoryEstimate Finished(std::vector<MemoryTerm> terms) {
    MemoryEstimate e;
    std::sort(terms.begin(), terms.end(),
              [](const MemoryTerm& a, const MemoryTerm& b) { return a.bytes > b.bytes; });
    for (const MemoryTerm& t : terms) e.bytes += t.bytes;
    e.terms = std::move(terms);
    return e;
  }

 private:
  std::vector<MemoryTerm> terms_;
};

struct Shape {
  double users, dim, vec, slate, rounds, live, round_items, creators, candidates;
};

Shape ShapeOf(const v1::ExperimentConfig& c) {
  Shape s;
  s.users = c.users().count();
  s.dim = c.space().dim();
  s.vec = s.dim * kFloat;
  s.slate = c.users().slate_size();
  s.rounds = c.rounds();
  s.live = static_cast<double>(PeakLiveItems(c));
  // Rounds grow or shrink geometrically: the first or the last is the
  // largest.
  s.round_items = c.rounds() == 0 ? 0
                                  : static_cast<double>(std::max(
                                        ItemsInRound(c, 0), ItemsInRound(c, c.rounds() - 1)));
  s.creators = c.creators().count();
  s.candidates = c.ranker().candidates();
  return s;
}

MemoryEstimate Ranker(const v1::ExperimentConfig& c) {
  const Shape s = ShapeOf(c);
  const v1::RankerConfig& r = c.ranker();
  Terms t;
  // The learned estimates and their directions.
  t.Add("users.count x space.dim (the ranker's user model)", 2 * s.users * s.vec);
  // What a user has seen is forgotten once it expires.
  const double seen_rounds = std::min<double>(s.rounds, std::max(1u, r.item_ttl_rounds()));
  if (r.seen_filter()) {
    t.Add("users.count x users.slate_size x ranker.item_ttl_rounds (the seen filter)",
          s.users * s.slate * seen_rounds * kSetEntry);
  }
  // The index holds each live item's vector once (FAISS's copy; rebuilds
  // read it back), plus the dead ones until a rebuild.
  const double kept = s.live * (1 + r.rebuild_dead_fraction());
  double per_item = s.vec + 48;
  if (r.index() == v1::RankerConfig::HNSW) per_item += 2.2 * r.hnsw_m() * 4;
  if (r.index() == v1::RankerConfig::IVF) per_item += 8;
  t.Add("live items x space.dim (the index: creators.count x "
        "creators.items_per_round x ranker.item_ttl_rounds)",
        kept * per_item + s.live * 64);
  // The round's rows and ids as they come from the store's chunks, held
  // until FAISS has added them.
  t.Add("the round's items x space.dim (indexing a round)",
        s.round_items * (s.vec + 8));
  // A RankBatch's neighbours and slates.
  const double batch = std::min<double>(s.users, c.execution().rank_batch_size());
  const double depth = s.candidates + (r.seen_filter() ? s.slate * seen_rounds : 0);
  t.Add("execution.rank_batch_size x ranker.candidates (a batch's search)",
        std::min<double>(batch * depth, double(kMaxSearchResults)) * 12 +
            batch * s.slate * kSlateEntry);
  // RecordFeedback: the round's interactions as the request holds them, the
  // service's contiguous copy, and the (user, position) set that checks
  // them. At 120000 users this was the missing half of the ranker's peak
  // (measured 2.04-2.07x the estimate without it).
  t.Add("users.count x users.slate_size (a round's feedback)",
        s.users * s.slate * (kInteraction + 48 + kSetEntry));
  // ScoreItems: the scoring users' estimates, twice.
  const double scorers = std::min<double>(c.generator().reward_users(), s.users);
  t.Add("generator.reward_users x space.dim (scoring)", 2 * scorers * s.vec);
  return std::move(t).Done();
}

MemoryEstimate Generator(const v1::ExperimentConfig& c) {
  const Shape s = ShapeOf(c);
  const v1::GeneratorConfig& g = c.generator();
  Terms t;
  t.Add("creators.count x space.dim (styles)", 4 * s.creators * s.vec);
  // The round as chosen rows while they are drawn and chosen (measured
  // about twice the rows at alpha 0, where no scoring chunk adds to it),
  // streamed a chunk at a time in wire form and dropped once streamed.
  t.Add("the round's items x space.dim (creators.count x creators.items_per_round)",
        s.round_items * (2 * s.vec + kItemOverhead));
  const double per_item = 1 + std::lround(g.alpha() * (g.max_candidates() - 1));
  t.Add("generator.max_candidates x space.dim (a scoring chunk)",
        std::min(s.round_items, 8192.0) * per_item * s.vec);
  t.Add("creators.count x generator.probes x space.dim (best responses)",
        s.creators * (1 + g.probes()) * s.vec);
  return std::move(t).Done();
}

MemoryEstimate Loop(const v1::ExperimentConfig& c) {
  const Shape s = ShapeOf(c);
  Terms t;
  const double copies = c.users().satiation() > 0 ? 3 : 2;
  t.Add("users.count x space.dim (the users' interests)", copies * s.users * s.vec);
  t.Add("users.count x users.slate_size (a round's slates and interactions)",
        s.users * s.slate * (kSlateEntry + kInteraction + 16) + s.users * 96);
  t.Add("the round's items x space.dim (the round in flight)",
        s.round_items * (s.vec + kItemOverhead));
  t.Add("live items x space.dim (the metrics' live set)", s.live * (s.vec + 96));
  t.Add("metrics.jaccard_window x users.count x users.slate_size (overlap window)",
        double(c.metrics().jaccard_window()) * s.users * s.slate * 8);
  t.Add("metrics.tail_reference x space.dim (the tail reference)",
        double(c.metrics().tail_reference()) * (s.vec + 64));
  t.Add("space.dim x space.dim (Vendi's kernel)", 3 * s.dim * s.dim * 8);
  return std::move(t).Done();
}

MemoryEstimate Store(const v1::ExperimentConfig& c) {
  // The store streams rounds through RocksDB and holds no run in memory;
  // what a run adds is the chunks in flight, at most a few of 4 MiB.
  Terms t;
  t.Add("chunks in flight", 16 << 20);
  return std::move(t).Done();
}

}  // namespace

const char* ServiceName(Service service) {
  switch (service) {
    case Service::kLoop: return "loop";
    case Service::kStore: return "store";
    case Service::kRanker: return "ranker";
    case Service::kGenerator: return "generator";
  }
  return "service";
}

uint64_t ItemsInRound(const v1::ExperimentConfig& c, uint32_t round) {
  const double base =
      static_cast<double>(c.creators().count()) * c.creators().items_per_round();
  const double grown = base * std::pow(c.generator().volume_growth(), round);
  return static_cast<uint64_t>(
      std::clamp<double>(std::llround(grown), 1, c.generator().max_items_per_round()));
}

uint64_t PeakLiveItems(const v1::ExperimentConfig& c) {
  const uint32_t ttl = std::max<uint32_t>(1, c.ranker().item_ttl_rounds());
  // With growth at most 1 the first rounds are the largest, and a window of
  // the first ttl rounds holds the most; with growth the last window does.
  uint64_t live = 0;
  if (c.generator().volume_growth() <= 1) {
    for (uint32_t r = 0; r < std::min(ttl, c.rounds()); ++r) live += ItemsInRound(c, r);
  } else {
    const uint32_t first = c.rounds() > ttl ? c.rounds() - ttl : 0;
    for (uint32_t r = first; r < c.rounds(); ++r) live += ItemsInRound(c, r);
  }
  return live;
}

uint64_t RunRecordBytes(const v1::ExperimentConfig& config) {
  return 3 * config.ByteSizeLong() + 512;  // the record, its spec, its copy in flight
}

MemoryEstimate ExperimentMemory(const std::vector<const v1::ExperimentConfig*>& configs,
                                int parallel, const std::vector<Service>& services) {
  const uint64_t at_once =
      std::min<uint64_t>(std::max(parallel, 1), std::max<size_t>(configs.size(), 1));
  std::vector<MemoryTerm> terms;
  for (Service service : services) {
    MemoryEstimate largest;
    for (const v1::ExperimentConfig* c : configs) {
      MemoryEstimate e = EstimateRunMemory(*c, service);
      if (e.bytes > largest.bytes) largest = std::move(e);
    }
    for (MemoryTerm& t : largest.terms) {
      t.bytes *= at_once;
      if (at_once > 1) t.what = absl::StrCat(t.what, " x execution.parallel_runs");
      if (services.size() > 1) t.what = absl::StrCat(t.what, ", in the ", ServiceName(service));
      terms.push_back(std::move(t));
    }
    if (service == Service::kLoop) {
      uint64_t records = 0;
      for (const v1::ExperimentConfig* c : configs) records += RunRecordBytes(*c);
      terms.push_back({absl::StrCat(configs.size(),
                                    " run records (sweep.values x sweep.replicates)"),
                       records});
    }
  }
  return Terms::Finished(std::move(terms));
}

std::string MemoryEstimate::Describe(size_t max_terms) const {
  std::vector<std::string> parts;
  for (size_t i = 0; i < terms.size() && i < max_terms; ++i) {
    parts.push_back(absl::StrCat(FormatBytes(terms[i].bytes), " for ", terms[i].what));
  }
  return absl::StrJoin(parts, ", ");
}

MemoryEstimate EstimateRunMemory(const v1::ExperimentConfig& config, Service service) {
  switch (service) {
    case Service::kLoop: return Loop(config);
    case Service::kStore: return Store(config);
    case Service::kRanker: return Ranker(config);
    case Service::kGenerator: return Generator(config);
  }
  return {};
}

namespace {

std::string Needs(Service service, const MemoryEstimate& estimate, absl::string_view what,
                  const MemoryBudget& budget) {
  const char* name = ServiceName(service);
  return absl::StrCat(name, ": ", what, " needs an estimated ", FormatBytes(estimate.bytes),
                      " (", estimate.Describe(), "); this ", name, "'s memory budget is ",
                      FormatBytes(budget.limit()));
}

}  // namespace

absl::Status CheckFits(Service service, const MemoryEstimate& estimate,
                       absl::string_view what, const MemoryBudget& budget) {
  if (estimate.bytes <= budget.limit()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      Needs(service, estimate, what, budget), ". Shrink those fields, or give the ",
      ServiceName(service), " more memory (--memory_budget; README, \"Memory budget\")"));
}

absl::StatusOr<MemoryBudget::Reservation> Admit(Service service,
                                                const MemoryEstimate& estimate,
                                                absl::string_view what,
                                                MemoryBudget& budget) {
  FEEDLOOP_RETURN_IF_ERROR(CheckFits(service, estimate, what, budget));
  const std::string needs = Needs(service, estimate, what, budget);
  absl::StatusOr<MemoryBudget::Reservation> r = budget.Reserve(estimate.bytes);
  if (!r.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        needs, ", of which ", FormatBytes(budget.reserved()),
        " is held by the runs it serves now; retry when some finish"));
  }
  return r;
}

absl::StatusOr<std::shared_ptr<MemoryBudget::Reservation>> HoldRun(
    const v1::ExperimentConfig& config, Service service, absl::string_view run_id,
    MemoryBudget* budget) {
  if (budget == nullptr) return nullptr;
  FEEDLOOP_ASSIGN_OR_RETURN(MemoryBudget::Reservation r,
                            Admit(service, EstimateRunMemory(config, service),
                                  absl::StrCat("run ", Quote(run_id)), *budget));
  return std::make_shared<MemoryBudget::Reservation>(std::move(r));
}

absl::StatusOr<MemoryBudget::Reservation> AdmitRun(const v1::ExperimentConfig& config,
                                                   Service service, MemoryBudget& budget) {
  return Admit(service, EstimateRunMemory(config, service), "the run", budget);
}

}  // namespace feedloop::config
