#include "conformance/scenario.h"

#include <cmath>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/random.h"

namespace feedloop::conformance::internal {

namespace {
constexpr char kNotAnExperiment[] = "a conformance scenario, not an experiment";
}  // namespace

v1::ExperimentConfig ScenarioConfig(uint64_t seed) {
  v1::ExperimentConfig c;
  c.set_name("conformance");
  c.set_seed(seed);
  c.set_rounds(kRounds);
  c.mutable_space()->set_dim(kDim);
  c.mutable_space()->set_topics(4);
  c.mutable_users()->set_count(kUsers);
  c.mutable_users()->set_slate_size(kSlateSize);
  c.mutable_users()->set_attention(kSlateSize);
  c.mutable_creators()->set_count(kCreators);
  c.mutable_creators()->set_items_per_round(kItemsPerCreator);
  c.mutable_generator()->set_alpha(0);
  c.mutable_generator()->set_volume_growth(1);
  c.mutable_generator()->set_ai_share(0);
  c.mutable_ranker()->set_item_ttl_rounds(kTtlRounds);
  c.mutable_ranker()->set_cold_start_slots(2);
  c.mutable_metrics()->set_pair_samples(100);
  c.mutable_metrics()->set_tail_reference(50);
  return c;
}

absl::StatusOr<std::string> CreateRun(store::StoreClient& store,
                                      const v1::ExperimentConfig& config,
                                      const Options& options, const std::string& what) {
  v1::RunRecord record;
  *record.mutable_config() = config;
  const std::string base =
      absl::StrCat(options.run_prefix, "-", what, "-", absl::ToUnixMillis(absl::Now()));
  // Two checks in the same millisecond: the next free suffix.
  absl::StatusOr<v1::RunRecord> created;
  for (int n = 1; n <= 100; ++n) {
    record.set_run_id(n == 1 ? base : absl::StrCat(base, "-", n));
    created = store.CreateRun(record);
    if (!absl::IsAlreadyExists(created.status())) break;
  }
  if (!created.ok()) return created.status();
  // STOPPED from the start, owned by nobody: no loop adopts it, even when
  // the kit is killed halfway (a loop adopts only PENDING and RUNNING runs).
  v1::UpdateRunRequest stopped;
  stopped.set_run_id(record.run_id());
  stopped.set_status(v1::STOPPED);
  stopped.set_error(kNotAnExperiment);
  absl::StatusOr<v1::RunRecord> updated = store.UpdateRun(stopped);
  if (!updated.ok()) return updated.status();
  return record.run_id();
}

absl::Status FinishRun(store::StoreClient& store, const std::string& run_id,
                       uint32_t rounds_done) {
  v1::UpdateRunRequest stopped;
  stopped.set_run_id(run_id);
  stopped.set_status(v1::STOPPED);
  stopped.set_rounds_done(rounds_done);
  stopped.set_error(kNotAnExperiment);
  return store.UpdateRun(stopped).status();
}

absl::Status Commit(store::StoreClient& store, const std::string& run_id, uint32_t round,
                    const std::string& checkpoint) {
  v1::WriteMetricsRequest commit;
  commit.set_run_id(run_id);
  commit.set_round(round);
  commit.set_advance_progress(true);
  commit.mutable_checkpoint()->set_generator(checkpoint);
  // A commit carries the round's metrics; the scenario measures nothing.
  v1::MetricValue* value = commit.add_values();
  value->set_name("content.vendi");
  value->set_absent("a conformance scenario: not measured");
  return store.WriteMetrics(commit);
}

std::vector<v1::Item> ScenarioItems(uint64_t seed, uint32_t round) {
  Rng rng(DeriveSeed(seed, 0xc0f0, round));
  std::vector<v1::Item> items(kItemsPerRound);
  for (uint32_t i = 0; i < kItemsPerRound; ++i) {
    v1::Item& item = items[i];
    item.set_id((uint64_t{round} << 32) | (i + 1));
    item.set_round(round);
    item.set_creator_id(i % kCreators);
    item.set_title(absl::StrCat("conformance item ", i + 1, " of round ", round));
    std::vector<float> v(kDim);
    double norm = 0;
    for (float& x : v) {
      x = static_cast<float>(rng.Normal());
      norm += double{x} * x;
    }
    for (float x : v) item.add_embedding(static_cast<float>(x / std::sqrt(norm)));
  }
  return items;
}

bool Engages(uint64_t seed, uint32_t round, uint32_t user, uint32_t position) {
  return Rng(DeriveSeed(seed, 0xe9a9e, round, user, position)).UniformInt(3) == 0;
}

std::vector<v1::Interaction> InteractionsOf(uint64_t seed, uint32_t round,
                                            std::span<const v1::Slate> slates) {
  std::vector<v1::Interaction> out;
  for (const v1::Slate& slate : slates) {
    for (int p = 0; p < slate.item_ids_size(); ++p) {
      v1::Interaction& x = out.emplace_back();
      x.set_user_id(slate.user_id());
      x.set_item_id(slate.item_ids(p));
      x.set_position(static_cast<uint32_t>(p));
      x.set_engaged(Engages(seed, round, slate.user_id(), static_cast<uint32_t>(p)));
    }
  }
  return out;
}

std::string CodeName(const absl::Status& s) {
  return s.ok() ? "OK" : absl::StatusCodeToString(s.code());
}

absl::Status ExpectCode(const absl::Status& s, std::initializer_list<absl::StatusCode> codes,
                        const std::string& what) {
  for (absl::StatusCode c : codes) {
    if (s.code() == c) return absl::OkStatus();
  }
  std::vector<std::string> names;
  for (absl::StatusCode c : codes) names.push_back(absl::StatusCodeToString(c));
  return absl::FailedPreconditionError(absl::StrCat(
      what, " answered ", CodeName(s), s.ok() ? "" : absl::StrCat(" (", s.message(), ")"),
      "; expected ", absl::StrJoin(names, " or ")));
}

}  // namespace feedloop::conformance::internal
