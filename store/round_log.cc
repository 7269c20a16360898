#include "store/round_log.h"

#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace feedloop::store {

absl::StatusOr<StoredRound> ReadRound(StoreClient& store,
                                      const std::string& run_id,
                                      uint32_t round, unsigned parts) {
  StoredRound out;
  out.round = round;
  if (parts & kRoundItems) {
    FEEDLOOP_RETURN_IF_ERROR(
        store.ScanItems(run_id, round, round, [&](std::vector<v1::Item> chunk) {
          out.items.insert(out.items.end(), std::make_move_iterator(chunk.begin()),
                           std::make_move_iterator(chunk.end()));
          return absl::OkStatus();
        }));
  }
  if (parts & kRoundInteractions) {
    FEEDLOOP_RETURN_IF_ERROR(store.ScanInteractions(
        run_id, round, round, [&](uint32_t, std::vector<v1::Interaction> chunk) {
          out.interactions.insert(out.interactions.end(),
                                  std::make_move_iterator(chunk.begin()),
                                  std::make_move_iterator(chunk.end()));
          return absl::OkStatus();
        }));
  }
  return out;
}

absl::Status ReplayRounds(StoreClient& store, const std::string& run_id,
                          uint32_t from, uint32_t to, unsigned parts,
                          const std::function<absl::Status(StoredRound&)>& apply) {
  for (uint32_t r = from; r < to; ++r) {
    FEEDLOOP_ASSIGN_OR_RETURN(StoredRound round, ReadRound(store, run_id, r, parts));
    FEEDLOOP_RETURN_IF_ERROR(Annotate(
        apply(round), absl::StrCat("replaying round ", r, " of run '", run_id, "'")));
  }
  return absl::OkStatus();
}

}  // namespace feedloop::store
