// Generator: one run's content generation (DESIGN.md section 3).
//
//   FEEDLOOP_ASSIGN_OR_RETURN(auto gen, Generator::Create(run_id, config,
//                                                         &reward_model, {}));
//   FEEDLOOP_ASSIGN_OR_RETURN(std::shared_ptr<const RoundItems> items,
//                             gen->Generate(0, nullptr));
//   v1::Item first = gen->ItemAt(*items, 0);
//   ... rank, consume ...
//   FEEDLOOP_RETURN_IF_ERROR(gen->Observe(0, outcomes));
//
// Creators: creator c has a home h_c near one topic and a centre m_c
// (starting at h_c); its items are normalize(m_c + spread * eps).
// Coupling alpha:
//   selection   each item is the best of 1 + round(alpha * (n_max - 1))
//               candidates, scored by the reward model (the ranker's
//               ScoreItems: expected engagements under its slate policy)
//               over a seeded sample of users;
//   adaptation  after each round, m_c moves by adaptation_rate under the
//               creator policy (generator.creator_policy): BEST_RESPONSE
//               toward the best of the directions it tries around m_c by
//               alpha * log(reward) + (1 - alpha) * <m, h_c> - cost
//               (antithetic probe pairs, then a step along the ascent
//               they estimate; the best point wins if it beats staying);
//               IMITATION toward better-paid neighbours; TREND_CHASING
//               toward the round's global winners (homogenizes by
//               construction);
//   platform    a share ai_share of the items comes from the platform's
//               mixture model (initialised on the creators' homes), refit
//               each round on the engaged items with rate alpha.
// Volume: the round's item count is creators.count * items_per_round *
// volume_growth^round, capped by max_items_per_round.
//
// At alpha = 0 the reward model is never called: the output cannot depend on
// the ranker. Every draw is seeded by (run seed, round, creator, item), so
// the items are the same whatever the thread count.
//
// Rounds go 0, 1, 2, ...: Generate(r), then Observe(r). Generate(r) again
// before Observe(r) returns the same items (a retry; after Release(r) they
// are drawn again, or Reload(r) gives them back from the store). A rejected call changes
// nothing. Checkpoint() after Generate(r), and Restore() then Observe(r) on a
// new generator, give back the same generator (the service's resume path).
//
// Thread-safe (one call at a time per run; calls are serialized).

#ifndef FEEDLOOP_GENERATOR_GENERATOR_H_
#define FEEDLOOP_GENERATOR_GENERATOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/cancellation.h"
#include "common/thread_pool.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/generator.pb.h"
#include "feedloop/v1/types.pb.h"
#include "generator/platform_model.h"
#include "generator/reward_model.h"
#include "generator/round_items.h"
#include "model/topic_space.h"

namespace feedloop::generator {

class Generator {
 public:
  struct Options {
    // Spreads candidate drawing over threads; borrowed, may be null.
    // Default: null.
    ThreadPool* pool = nullptr;
    // Items whose candidates are scored in one go (bounds memory at
    // scale). Default: 8192.
    size_t items_per_scoring_chunk = 8192;
    // Waves a round's items are chosen in (each priced against the waves
    // before it); a creator's items beyond this many share waves. Bounds
    // the reward calls per round. Default: 16.
    uint32_t max_scoring_waves = 16;
  };

  // `reward` is borrowed and must outlive the generator; it may be null
  // only when generator.alpha is 0. INVALID_ARGUMENT names a bad field.
  static absl::StatusOr<std::unique_ptr<Generator>> Create(
      std::string run_id, const v1::ExperimentConfig& config,
      RewardModel* reward, const Options& options);

  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // The round's new items. The creators first adapt to the last observed
  // round under their policy (so a best response asks the ranker as it
  // stands after that round's feedback), then publish. FAILED_PRECONDITION
  // for a round out of order; the reward model's error (UNAVAILABLE when
  // the ranker is unreachable) when coupled, and nothing changes then.
  // `candidates_drawn` may be null. Stops with `cancel`'s status (and
  // nothing changed) once its caller has gone: checked between scoring
  // chunks and carried into the reward model's calls.
  // The round is shared, not copied: the generator keeps it until it is
  // observed.
  absl::StatusOr<std::shared_ptr<const RoundItems>> Generate(
      uint32_t round, uint64_t* candidates_drawn, const Cancellation& cancel = {});
  // Item i of a round this generator made, in its wire form (its title is
  // made here, seeded by the run, the round and i).
  v1::Item ItemAt(const RoundItems& items, size_t i) const;

  // The round just generated has been handed on whole (the service streamed
  // its last chunk): its embeddings are dropped unless Observe will need
  // them (TREND_CHASING, or a platform refit: ai_share > 0 at alpha > 0),
  // so that a round of millions of items is not held here while the rest
  // of the loop works on it. A retry of Generate(round) then draws the
  // items again (the same ones: every draw is seeded and the reward model
  // answers as before until the round is indexed), or takes them back from
  // the store with Reload. Returns whether they were dropped.
  bool Release(uint32_t round);
  // Whether `round` is the round just generated and Release dropped it.
  bool Released(uint32_t round) const;
  // Gives a released round its items back from the store (as Restore
  // places them, by id). INVALID_ARGUMENT when they are not the whole
  // round; FAILED_PRECONDITION when `round` is not a released round.
  absl::Status Reload(uint32_t round, std::vector<v1::Item> items);

  // The round's outcomes per item (the creators adapt to them in the next
  // Generate; the platform model refits now). INVALID_ARGUMENT for an item
  // not of this round, a repeated item, or more engagements than
  // impressions; FAILED_PRECONDITION when `round` was not just generated.
  // Nothing changes on an error.
  absl::Status Observe(uint32_t round, std::span<const v1::ItemOutcome> outcomes);

  // The state as the last round was generated (what OpenRun resumes from,
  // with the round's items and outcomes); FAILED_PRECONDITION before the
  // first Generate.
  absl::StatusOr<v1::GeneratorCheckpoint> Checkpoint() const;
  // Puts a generator that has generated nothing yet back where `checkpoint`
  // was taken, holding `items` (the round's items, as the store gives them
  // back): the round's Observe comes next, as after its Generate.
  // INVALID_ARGUMENT when the checkpoint does not fit the run's config or
  // an item is not of the round.
  absl::Status Restore(const v1::GeneratorCheckpoint& checkpoint,
                       std::vector<v1::Item> items);

  v1::GeneratorRunState state() const;
  // Items the round will hold (creators' and platform's).
  uint32_t ItemsInRound(uint32_t round) const;
  // Mean cosine distance of the creators' centres from their homes.
  double CreatorDrift() const;
  // Copies of internal state, for tests and metrics.
  std::vector<float> CreatorCentre(uint32_t creator) const;
  PlatformModel platform_model() const;

 private:
  Generator(std::string run_id, const v1::ExperimentConfig& config,
            RewardModel* reward, const Options& options);

  // Candidates per item at this coupling.
  uint32_t CandidatesPerItem() const;
  absl::StatusOr<RoundItems> GenerateLocked(uint32_t round, uint64_t* drawn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `items` placed by id as the whole of `round`, or INVALID_ARGUMENT
  // naming the item that does not fit.
  absl::StatusOr<std::shared_ptr<RoundItems>> PlaceItems(uint32_t round,
                                                         std::vector<v1::Item> items) const;
  bool ReleasedLocked(uint32_t round) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  double CreatorDriftLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The creators' centres after observing `round` under the creator policy;
  // the reward model's error when it fails (nothing has changed then).
  absl::StatusOr<std::vector<float>> AdaptedCentres(
      uint32_t round, const std::vector<double>& engagements)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::vector<float> TrendChasing(const std::vector<double>& engagements) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::vector<float> Imitation(const std::vector<double>& engagements) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<float>> BestResponse(uint32_t round) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<double>> Objective(uint32_t round,
                                                std::span<const float> rows,
                                                uint32_t per_creator,
                                                uint64_t stream) const;
  void StepToward(std::span<float> m, std::span<const double> target) const;
  std::optional<std::vector<double>> Blend(std::span<const double> pull,
                                           uint32_t creator) const;
  double ProductionCost(std::span<const float> m) const;

  // Constant after construction.
  const std::string run_id_;
  const v1::ExperimentConfig config_;
  const uint32_t dim_;
  const uint32_t creators_;
  RewardModel* const reward_;
  const Options options_;
  const model::TopicSpace space_;
  std::vector<float> homes_;  // creators_ x dim_

  mutable absl::Mutex mu_;
  std::vector<float> centres_ ABSL_GUARDED_BY(mu_);  // creators_ x dim_
  PlatformModel platform_ ABSL_GUARDED_BY(mu_);
  // The caller of the Generate in progress (it holds mu_ throughout), for
  // the reward model's calls made on its behalf.
  const Cancellation* cancel_ ABSL_GUARDED_BY(mu_) = &kNoCancellation;
  static inline const Cancellation kNoCancellation{};
  uint32_t next_round_ ABSL_GUARDED_BY(mu_) = 0;
  // The last generated round's items, kept until it is observed.
  bool awaiting_observe_ ABSL_GUARDED_BY(mu_) = false;
  // Without embeddings once released (its creators stay: Observe reads them).
  std::shared_ptr<const RoundItems> last_ ABSL_GUARDED_BY(mu_);
  bool last_released_ ABSL_GUARDED_BY(mu_) = false;
  size_t last_fingerprint_ ABSL_GUARDED_BY(mu_) = 0;  // of its embeddings, at release
  uint64_t last_drawn_ ABSL_GUARDED_BY(mu_) = 0;
  // The state as the last round was generated.
  std::optional<v1::GeneratorCheckpoint> checkpoint_ ABSL_GUARDED_BY(mu_);
  // The last observed round's items and their engagements, which the
  // creators adapt to when the next round is generated.
  std::optional<uint32_t> observed_round_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const RoundItems> observed_ ABSL_GUARDED_BY(mu_);
  std::vector<double> observed_engagements_ ABSL_GUARDED_BY(mu_);
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_GENERATOR_H_
