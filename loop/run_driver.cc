#include "loop/run_driver.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "config/cost.h"
#include "model/outcomes.h"
#include "glog/logging.h"
#include "model/consumption.h"
#include "rpc/deadline.h"
#include "rpc/grpc_status.h"

namespace feedloop::loop {
namespace {

// Failures worth redoing the round for: a service down, slow or overloaded,
// or one that restarted without the run.
bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) ||
         absl::IsResourceExhausted(s);
}

}  // namespace

// One attempt at one round: the steps of run_driver.h, each a Status.
class RunDriver::Round {
 public:
  // With `open`, the round begins by opening the run on both services
  // (the first round played, and every redone one).
  Round(const RunDriver& driver, const v1::RunRecord& run, uint32_t round,
        bool open, LoopState& state)
      : open_(open),
        clients_(driver.clients_),
        options_(driver.options_),
        run_(run),
        config_(run.config()),
        round_(round),
        state_(state) {}

  // Plays the round; `values` holds its metrics once it is committed.
  absl::Status Play(std::vector<v1::MetricValue>* values) {
    Clock* const clock = options_.clock;
    absl::Time start = clock->Now();
    auto mark = [&start, clock](absl::Duration* stage) {
      const absl::Time now = clock->Now();
      *stage += now - start;
      start = now;
    };
    if (open_) FEEDLOOP_RETURN_IF_ERROR(Open());
    FEEDLOOP_RETURN_IF_ERROR(GenerateAndIngest());
    mark(&times_.generate);  // less the ingest part, counted on its own
    times_.generate -= times_.ingest;
    FEEDLOOP_RETURN_IF_ERROR(Index());
    mark(&times_.index);
    FEEDLOOP_RETURN_IF_ERROR(Serve());
    mark(&times_.serve);
    Consume();
    mark(&times_.consume);
    FEEDLOOP_RETURN_IF_ERROR(Feedback());
    mark(&times_.feedback);
    Measure(values);
    FEEDLOOP_RETURN_IF_ERROR(Commit(*values));
    FEEDLOOP_RETURN_IF_ERROR(state_.Finish(round_, interactions_));
    mark(&times_.measure);
    return absl::OkStatus();
  }

  const StageTimes& times() const { return times_; }
  // Whether the loop's state holds part of this round (it must then be
  // rebuilt before the round is redone).
  bool touched_state() const { return touched_state_; }

 private:
  // A call to the ranker or the generator, with the driver's deadline,
  // waiting for a service that is restarting. A service that answers
  // NOT_FOUND lost the run (it restarted): worth the round again.
  template <typename Stub, typename Req, typename Resp, typename Method>
  absl::Status Call(Stub* stub, Method method, const Req& req, Resp* resp,
                    absl::string_view what) const {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    SetTimeout(&ctx, options_.call_deadline);
    absl::Status s = FromGrpcStatus((stub->*method)(&ctx, req, resp));
    if (absl::IsNotFound(s)) {
      s = absl::UnavailableError(absl::StrCat("lost the run (", s.message(), ")"));
    }
    // A generator out of step with the loop (a replica that did not see
    // the round's Generate, during a rolling update): the round again.
    if (absl::IsFailedPrecondition(s) && what.rfind("generator", 0) == 0) {
      s = absl::UnavailableError(absl::StrCat("out of step (", s.message(), ")"));
    }
    return Annotate(s, what);
  }

  // 0. Both services stand at the start of the round (or hold what it did
  // so far, which is the same).
  absl::Status Open() {
    v1::OpenRunRequest open;
    open.set_run_id(run_.run_id());
    *open.mutable_config() = config_;
    open.set_round(round_);
    v1::RankerRunState ranker_state;
    FEEDLOOP_RETURN_IF_ERROR(Call(clients_.ranker, &v1::RankerService::Stub::OpenRun,
                                  open, &ranker_state, "ranker OpenRun"));
    v1::GeneratorRunState generator_state;
    return Call(clients_.generator, &v1::GeneratorService::Stub::OpenRun, open,
                &generator_state, "generator OpenRun");
  }

  // 1 and 2. The round's new items, a chunk at a time as the generator
  // streams them: each chunk is made durable (a redone round's items are
  // recognised), then live in the loop's state, and dropped, so the loop
  // never holds the round's items in wire form.
  absl::Status GenerateAndIngest() {
    v1::GenerateRequest req;
    req.set_run_id(run_.run_id());
    req.set_round(round_);
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    SetTimeout(&ctx, options_.call_deadline);
    auto stream = clients_.generator->Generate(&ctx, req);
    v1::GenerateResponse chunk;
    std::vector<v1::Item> items;
    absl::Status ingested;
    const uint64_t expected = config::ItemsInRound(config_, round_);
    uint64_t stored = 0;
    while (ingested.ok() && stream->Read(&chunk)) {
      items.assign(std::make_move_iterator(chunk.mutable_items()->begin()),
                   std::make_move_iterator(chunk.mutable_items()->end()));
      chunk.Clear();
      ingested = Ingest(items);
      stored += items.size();
      if (ingested.ok()) Progress("ingest", stored, expected);
    }
    if (!ingested.ok()) {
      ctx.TryCancel();
      stream->Finish();  // CANCELLED: the error is the ingest's
      return ingested;
    }
    absl::Status s = FromGrpcStatus(stream->Finish());
    if (absl::IsNotFound(s) || absl::IsFailedPrecondition(s)) {
      s = absl::UnavailableError(s.message());  // lost the run, or out of step
    }
    FEEDLOOP_RETURN_IF_ERROR(Annotate(s, "generator Generate"));
    state_.EndItems(round_);
    touched_state_ = true;
    return absl::OkStatus();
  }

  absl::Status Ingest(std::span<const v1::Item> items) {
    const absl::Time start = options_.clock->Now();
    FEEDLOOP_RETURN_IF_ERROR(clients_.store->Ingest(run_.run_id(), items));
    state_.AddItems(round_, items);
    touched_state_ = true;
    times_.ingest += options_.clock->Now() - start;
    return absl::OkStatus();
  }

  absl::Status Index() {
    v1::AdvanceRoundRequest adv;
    adv.set_run_id(run_.run_id());
    adv.set_round(round_);
    v1::RankerRunState state;
    Progress("index", 0, 1);
    FEEDLOOP_RETURN_IF_ERROR(Call(clients_.ranker, &v1::RankerService::Stub::AdvanceRound,
                                  adv, &state, "ranker AdvanceRound"));
    Progress("index", 1, 1);
    return absl::OkStatus();
  }

  void Progress(std::string_view stage, uint64_t done, uint64_t total) const {
    if (options_.on_progress) options_.on_progress({round_, stage, done, total});
  }

  // 3. Every user's slate, in batches.
  absl::Status Serve() {
    const uint32_t n_users = config_.users().count();
    const bool oracle = config_.ranker().variant() == v1::RankerConfig::ORACLE;
    slates_.resize(n_users);
    const uint32_t batch = config_.execution().rank_batch_size();
    for (uint32_t first = 0; first < n_users; first += batch) {
      const uint32_t last = std::min(n_users, first + batch);
      v1::RankBatchRequest req;
      req.set_run_id(run_.run_id());
      req.set_round(round_);  // a ranker replica catches up to it
      for (uint32_t u = first; u < last; ++u) {
        v1::UserQuery* q = req.add_users();
        q->set_user_id(u);
        if (oracle) {
          auto p = state_.users().Interest(u);
          q->mutable_true_interest()->Assign(p.begin(), p.end());
        }
      }
      v1::RankBatchResponse resp;
      FEEDLOOP_RETURN_IF_ERROR(Call(clients_.ranker, &v1::RankerService::Stub::RankBatch,
                                    req, &resp, "ranker RankBatch"));
      if (resp.slates_size() != static_cast<int>(last - first)) {
        return absl::InternalError("ranker RankBatch: wrong number of slates");
      }
      for (uint32_t u = first; u < last; ++u) {
        slates_[u] = std::move(*resp.mutable_slates(static_cast<int>(u - first)));
        for (uint64_t id : slates_[u].item_ids()) {
          if (state_.recorder().Embedding(id).empty()) {
            return absl::InternalError(absl::StrCat(
                "ranker returned item ", id, " which is not live in round ", round_));
          }
        }
      }
      Progress("serve", last, n_users);
    }
    return absl::OkStatus();
  }

  // 4. Users read their slates.
  void Consume() {
    const size_t n_users = slates_.size();
    std::vector<model::Consumption> consumption(n_users);
    auto consume = [&](size_t u) {
      std::vector<std::span<const float>> shown;
      shown.reserve(slates_[u].item_ids_size());
      for (uint64_t id : slates_[u].item_ids()) {
        shown.push_back(state_.recorder().Embedding(id));
      }
      consumption[u] = state_.users().Consume(round_, static_cast<uint32_t>(u), shown);
    };
    if (options_.pool != nullptr) {
      options_.pool->ParallelFor(n_users, consume);
    } else {
      for (size_t u = 0; u < n_users; ++u) consume(u);
    }
    interactions_ = model::InteractionsOf(slates_, consumption);
  }

  // 5. Durable first, then to the ranker and the generator.
  absl::Status Feedback() {
    if (!interactions_.empty()) {
      FEEDLOOP_RETURN_IF_ERROR(
          clients_.store->LogInteractions(run_.run_id(), round_, interactions_));
    }
    v1::RecordFeedbackRequest feedback;
    feedback.set_run_id(run_.run_id());
    feedback.set_round(round_);
    feedback.mutable_interactions()->Add(interactions_.begin(), interactions_.end());
    v1::RecordFeedbackResponse recorded;
    absl::Status s = Call(clients_.ranker, &v1::RankerService::Stub::RecordFeedback,
                          feedback, &recorded, "ranker RecordFeedback");
    // Already recorded: a retry after a lost reply.
    if (!s.ok() && !absl::IsAlreadyExists(s)) return s;

    v1::ObserveRequest observe;
    observe.set_run_id(run_.run_id());
    observe.set_round(round_);
    for (v1::ItemOutcome& o : model::OutcomesOf(round_, interactions_)) {
      *observe.add_outcomes() = std::move(o);
    }
    return Call(clients_.generator, &v1::GeneratorService::Stub::Observe, observe,
                &observed_, "generator Observe");
  }

  void Measure(std::vector<v1::MetricValue>* values) {
    state_.Record(round_, interactions_);
    metrics::RoundRecorder::Observed input;
    input.round = round_;
    input.slates = slates_;
    input.interactions = interactions_;
    input.interests = state_.users().Interests();
    input.creator_drift = observed_.state().creator_drift();
    input.interest_drift = state_.users().MeanInterestDrift();
    *values = state_.recorder().Measure(input);
  }

  // 6. The round's metrics, checkpoint and progress, in one write.
  absl::Status Commit(const std::vector<v1::MetricValue>& values) {
    v1::WriteMetricsRequest commit;
    commit.set_run_id(run_.run_id());
    commit.set_round(round_);
    commit.mutable_values()->Add(values.begin(), values.end());
    commit.set_advance_progress(true);
    commit.set_owner(options_.owner);
    commit.mutable_checkpoint()->set_generator(observed_.checkpoint());
    absl::Status s = clients_.store->WriteMetrics(commit);
    if (absl::IsFailedPrecondition(s) && !options_.owner.empty()) {
      return absl::AbortedError(s.message());  // another loop owns the run now
    }
    return Annotate(s, "store WriteMetrics");
  }

  const bool open_;
  const ServiceClients clients_;
  const Options& options_;
  const v1::RunRecord& run_;
  const v1::ExperimentConfig& config_;
  const uint32_t round_;
  LoopState& state_;

  StageTimes times_;
  bool touched_state_ = false;
  std::vector<v1::Slate> slates_;
  std::vector<v1::Interaction> interactions_;
  v1::ObserveResponse observed_;
};

absl::Status RunDriver::Run(
    const v1::RunRecord& run,
    const std::function<void(const v1::RoundMetrics&)>& on_round,
    const std::atomic<bool>* stop) {
  const std::string& run_id = run.run_id();
  const v1::ExperimentConfig& config = run.config();
  std::unique_ptr<LoopState> state;
  uint32_t round = run.rounds_done();
  absl::Time give_up = options_.clock->Now() + options_.retry_budget;
  absl::Duration backoff = absl::Milliseconds(100);
  bool reopen = true;
  while (round < config.rounds()) {
    if (stop != nullptr && stop->load()) {
      return absl::CancelledError(
          absl::StrCat("run ", run_id, " stopped after ", round, " rounds"));
    }
    // The loop's state at the start of the round: kept from the round
    // before, or rebuilt from the store (a resumed run, a redone round).
    absl::Status s;
    if (state == nullptr) {
      absl::StatusOr<std::unique_ptr<LoopState>> resumed =
          round == 0 ? std::make_unique<LoopState>(config)
                     : LoopState::Resume(config, *clients_.store, run_id, round);
      s = resumed.status();
      if (s.ok()) state = *std::move(resumed);
    }
    std::vector<v1::MetricValue> values;
    std::unique_ptr<Round> attempt;
    if (s.ok()) {
      attempt = std::make_unique<Round>(*this, run, round, reopen, *state);
      s = attempt->Play(&values);
    }
    if (!s.ok()) {
      if (!Retryable(s) || options_.clock->Now() > give_up) {
        return Annotate(s, absl::StrCat("round ", round));
      }
      LOG(WARNING) << "run " << run_id << " round " << round << ": " << s
                   << "; redoing the round in " << backoff;
      // Rebuilt from the store only when the attempt got as far as changing
      // it: a service that is down costs no replay per retry.
      if (attempt == nullptr || attempt->touched_state()) state.reset();
      reopen = true;
      options_.clock->SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(2));
      continue;
    }
    give_up = options_.clock->Now() + options_.retry_budget;
    backoff = absl::Milliseconds(100);
    reopen = false;
    if (options_.on_stage_times) options_.on_stage_times(round, attempt->times());
    if (on_round) {
      v1::RoundMetrics rm;
      rm.set_run_id(run_id);
      rm.set_round(round);
      rm.mutable_values()->Add(values.begin(), values.end());
      on_round(rm);
    }
    ++round;
  }
  return absl::OkStatus();
}

}  // namespace feedloop::loop
