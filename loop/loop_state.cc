#include "loop/loop_state.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace feedloop::loop {

LoopState::LoopState(const v1::ExperimentConfig& config)
    : space_(model::TopicSpace::FromConfig(config)),
      users_(config, space_),
      recorder_(config) {}

absl::StatusOr<std::unique_ptr<LoopState>> LoopState::Resume(
    const v1::ExperimentConfig& config, store::StoreClient& store,
    const std::string& run_id, uint32_t round) {
  auto state = std::make_unique<LoopState>(config);
  FEEDLOOP_RETURN_IF_ERROR(store::ReplayRounds(
      store, run_id, 0, round, store::kRoundItems | store::kRoundInteractions,
      [&](store::StoredRound& stored) { return state->ApplyRound(stored); }));
  return state;
}

void LoopState::AddItems(uint32_t round, std::span<const v1::Item> items) {
  recorder_.AddItems(round, items);
}

void LoopState::EndItems(uint32_t round) { recorder_.EndItems(round); }

void LoopState::Record(uint32_t round, std::span<const v1::Interaction> interactions) {
  recorder_.Record(round, interactions);
}

absl::Status LoopState::Finish(uint32_t round,
                               std::span<const v1::Interaction> interactions) {
  // What each user engaged, top-down: the embeddings must still be live,
  // so this comes before the round's items expire.
  std::vector<std::vector<std::span<const float>>> consumed(users_.count());
  for (const v1::Interaction& x : interactions) {
    if (!x.engaged() || x.user_id() >= users_.count()) continue;
    std::span<const float> e = recorder_.Embedding(x.item_id());
    if (e.empty()) {
      return absl::InternalError(absl::StrCat(
          "round ", round, ": user ", x.user_id(), " engaged item ", x.item_id(),
          ", which is not live"));
    }
    consumed[x.user_id()].push_back(e);
  }
  users_.Absorb(consumed);
  recorder_.RetireExpired(round);
  next_round_ = round + 1;
  return absl::OkStatus();
}

absl::Status LoopState::ApplyRound(const store::StoredRound& round) {
  if (round.round != next_round_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round ", round.round, " applied to a run at round ", next_round_));
  }
  AddItems(round.round, round.items);
  EndItems(round.round);
  for (const v1::Interaction& x : round.interactions) {
    if (recorder_.Embedding(x.item_id()).empty()) {
      return absl::DataLossError(absl::StrCat(
          "the store's round ", round.round, " shows item ", x.item_id(),
          ", which is not live then"));
    }
  }
  Record(round.round, round.interactions);
  return Finish(round.round, round.interactions);
}

}  // namespace feedloop::loop
