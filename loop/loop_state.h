// LoopState: the loop's part of one run, the simulated users and the round
// recorder, and where it stands (the next round to play).
//
// A round changes it in three steps, each taking only what the store keeps
// of the round, so that a loop resuming a run replays the stored rounds
// through the very steps the live loop ran:
//
//   state.AddItems(round, chunk);            // the round's items are live,
//   state.EndItems(round);                   //   a chunk at a time
//   ... rank; users read their slates from state.users() ...
//   state.Record(round, interactions);       // impressions, windows
//   values = state.recorder().Measure(...);  // changes nothing
//   ... commit the round ...
//   FEEDLOOP_RETURN_IF_ERROR(state.Finish(round, interactions));
//
//   // A loop resuming at round r:
//   FEEDLOOP_ASSIGN_OR_RETURN(auto state, LoopState::Resume(config, store, id, r));
//
// Not thread-safe.

#ifndef FEEDLOOP_LOOP_LOOP_STATE_H_
#define FEEDLOOP_LOOP_LOOP_STATE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "feedloop/v1/config.pb.h"
#include "loop/users.h"
#include "metrics/round_recorder.h"
#include "model/topic_space.h"
#include "store/round_log.h"
#include "store/store_client.h"

namespace feedloop::loop {

class LoopState {
 public:
  // At the start of round 0.
  explicit LoopState(const v1::ExperimentConfig& config);

  // At the start of round `round`: rounds [0, round) replayed from the
  // store. The store's error (annotated with the round) when it cannot
  // give them.
  static absl::StatusOr<std::unique_ptr<LoopState>> Resume(
      const v1::ExperimentConfig& config, store::StoreClient& store,
      const std::string& run_id, uint32_t round);

  LoopState(const LoopState&) = delete;
  LoopState& operator=(const LoopState&) = delete;

  uint32_t next_round() const { return next_round_; }
  const Users& users() const { return users_; }
  const metrics::RoundRecorder& recorder() const { return recorder_; }

  // The round's new items join the live set.
  void AddItems(uint32_t round, std::span<const v1::Item> items);
  void EndItems(uint32_t round);
  // What users examined and engaged in the round is recorded.
  void Record(uint32_t round, std::span<const v1::Interaction> interactions);
  // Ends the round: users absorb what they engaged (drift, satiation) and
  // expired items leave. INTERNAL when an engaged item is not live.
  absl::Status Finish(uint32_t round, std::span<const v1::Interaction> interactions);

  // A completed round from the store, through the three steps above.
  absl::Status ApplyRound(const store::StoredRound& round);

 private:
  const model::TopicSpace space_;
  Users users_;
  metrics::RoundRecorder recorder_;
  uint32_t next_round_ = 0;
};

}  // namespace feedloop::loop

#endif  // FEEDLOOP_LOOP_LOOP_STATE_H_
