#include "loop/run_driver.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "glog/logging.h"
#include "loop/users.h"
#include "metrics/round_recorder.h"
#include "model/topic_space.h"

namespace feedloop::loop {
namespace {

// A call with the driver's deadline, as a Status.
template <typename Stub, typename Req, typename Resp, typename Method>
absl::Status Call(Stub* stub, Method method, const Req& req, Resp* resp,
                  absl::Duration deadline, absl::string_view what) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return Annotate(FromGrpcStatus((stub->*method)(&ctx, req, resp)), what);
}

// Failures after which a ranker is worth reopening: it is down, or it came
// back without the run.
bool RankerLost(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsNotFound(s) ||
         absl::IsDeadlineExceeded(s);
}

}  // namespace

absl::Status RunDriver::Run(
    const v1::RunRecord& run,
    const std::function<void(const v1::RoundMetrics&)>& on_round,
    const std::atomic<bool>* stop) {
  const v1::ExperimentConfig& config = run.config();
  const std::string& run_id = run.run_id();
  const absl::Duration deadline = options_.call_deadline;
  const model::TopicSpace space = model::TopicSpace::FromConfig(config);
  Users users(config, space);
  metrics::RoundRecorder tracker(config);
  const uint32_t n_users = config.users().count();
  const bool oracle = config.ranker().variant() == v1::RankerConfig::ORACLE;

  v1::OpenRunRequest open;
  open.set_run_id(run_id);
  *open.mutable_config() = config;
  open.set_round(0);
  {
    v1::GeneratorRunState state;
    FEEDLOOP_RETURN_IF_ERROR(Call(clients_.generator,
                                  &v1::GeneratorService::Stub::OpenRun, open,
                                  &state, deadline, "generator OpenRun"));
    v1::RankerRunState rstate;
    FEEDLOOP_RETURN_IF_ERROR(Call(clients_.ranker,
                                  &v1::RankerService::Stub::OpenRun, open,
                                  &rstate, deadline, "ranker OpenRun"));
  }

  // Reopens the run on a ranker that lost it, at `round` (rounds before it
  // are complete), retrying until it answers or the budget is spent.
  auto reopen_ranker = [&](uint32_t round, const absl::Status& cause) {
    LOG(WARNING) << "run " << run_id << " round " << round
                 << ": ranker failed (" << cause << "); reopening the run";
    const absl::Time give_up = absl::Now() + options_.ranker_retry_budget;
    absl::Duration backoff = absl::Milliseconds(100);
    while (true) {
      v1::OpenRunRequest req = open;
      req.set_round(round);
      v1::RankerRunState state;
      grpc::ClientContext ctx;
      ctx.set_wait_for_ready(true);
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
      absl::Status s =
          FromGrpcStatus(clients_.ranker->OpenRun(&ctx, req, &state));
      if (s.ok()) return absl::OkStatus();
      if (absl::Now() > give_up) {
        return Annotate(s, "ranker did not come back");
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(2));
    }
  };

  // A step that needs the ranker, retried after reopening the run when the
  // ranker was lost. The reopened ranker stands at the end of the previous
  // round; steps after the round's AdvanceRound (`indexed`) re-index it
  // first.
  auto with_ranker_at = [&](uint32_t round, bool indexed,
                            auto step) -> absl::Status {
    absl::Status s = step();
    for (int attempt = 0; !s.ok() && RankerLost(s) && attempt < 5; ++attempt) {
      FEEDLOOP_RETURN_IF_ERROR(reopen_ranker(round, s));
      if (indexed) {
        v1::AdvanceRoundRequest adv;
        adv.set_run_id(run_id);
        adv.set_round(round);
        v1::RankerRunState state;
        s = Call(clients_.ranker, &v1::RankerService::Stub::AdvanceRound, adv,
                 &state, deadline, "ranker AdvanceRound");
        if (!s.ok()) continue;
      }
      s = step();
    }
    return s;
  };
  auto with_ranker = [&](uint32_t round, auto step) {
    return with_ranker_at(round, /*indexed=*/true, step);
  };

  for (uint32_t round = 0; round < config.rounds(); ++round) {
    if (stop != nullptr && stop->load()) {
      return absl::CancelledError(
          absl::StrCat("run ", run_id, " stopped after ", round, " rounds"));
    }
    StageTimes times;
    absl::Time stage_start = absl::Now();
    // Adds the time since the last mark to `stage`.
    auto mark = [&stage_start](absl::Duration* stage) {
      const absl::Time now = absl::Now();
      *stage += now - stage_start;
      stage_start = now;
    };
    // 1. Generate.
    v1::GenerateRequest gen_req;
    gen_req.set_run_id(run_id);
    gen_req.set_round(round);
    std::vector<v1::Item> items;
    // A coupled generator scores candidates with the ranker (ScoreItems):
    // when that ranker was lost, reopen the run and generate again (a failed
    // Generate leaves the generator unchanged).
    FEEDLOOP_RETURN_IF_ERROR(with_ranker_at(round, /*indexed=*/false, [&] {
      items.clear();
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
      auto stream = clients_.generator->Generate(&ctx, gen_req);
      v1::GenerateResponse chunk;
      while (stream->Read(&chunk)) {
        for (v1::Item& item : *chunk.mutable_items()) items.push_back(std::move(item));
      }
      return Annotate(FromGrpcStatus(stream->Finish()), "generator Generate");
    }));

    mark(&times.generate);

    // 2. Ingest (durable), then index.
    absl::Status ingest = clients_.store->Ingest(run_id, items);
    if (absl::IsAlreadyExists(ingest)) {
      // A retried round: the items are stored already; they are the same
      // items, since generation is deterministic.
      ingest = absl::OkStatus();
    }
    FEEDLOOP_RETURN_IF_ERROR(ingest);
    tracker.AddItems(round, items);
    mark(&times.ingest);
    v1::AdvanceRoundRequest adv;
    adv.set_run_id(run_id);
    adv.set_round(round);
    FEEDLOOP_RETURN_IF_ERROR(with_ranker(round, [&] {
      v1::RankerRunState state;
      return Call(clients_.ranker, &v1::RankerService::Stub::AdvanceRound, adv,
                  &state, deadline, "ranker AdvanceRound");
    }));

    mark(&times.index);

    // 3. Serve every user, in batches.
    std::vector<v1::Slate> slates(n_users);
    const uint32_t batch = config.execution().rank_batch_size();
    for (uint32_t first = 0; first < n_users; first += batch) {
      const uint32_t last = std::min(n_users, first + batch);
      v1::RankBatchRequest req;
      req.set_run_id(run_id);
      req.set_round(round);  // a ranker replica catches up to it
      for (uint32_t u = first; u < last; ++u) {
        v1::UserQuery* q = req.add_users();
        q->set_user_id(u);
        if (oracle) {
          auto p = users.Interest(u);
          q->mutable_true_interest()->Assign(p.begin(), p.end());
        }
      }
      v1::RankBatchResponse resp;
      FEEDLOOP_RETURN_IF_ERROR(with_ranker(round, [&] {
        return Call(clients_.ranker, &v1::RankerService::Stub::RankBatch, req,
                    &resp, deadline, "ranker RankBatch");
      }));
      if (resp.slates_size() != static_cast<int>(last - first)) {
        return absl::InternalError("ranker RankBatch: wrong number of slates");
      }
      for (uint32_t u = first; u < last; ++u) {
        slates[u] = std::move(*resp.mutable_slates(static_cast<int>(u - first)));
        for (uint64_t id : slates[u].item_ids()) {
          if (tracker.Embedding(id).empty()) {
            return absl::InternalError(absl::StrCat(
                "ranker returned item ", id, " which is not live in round ",
                round));
          }
        }
      }
    }

    mark(&times.serve);

    // 4. Consume.
    std::vector<Consumption> consumption(n_users);
    auto consume = [&](size_t u) {
      std::vector<std::span<const float>> shown;
      shown.reserve(slates[u].item_ids_size());
      for (uint64_t id : slates[u].item_ids()) shown.push_back(tracker.Embedding(id));
      consumption[u] = users.Consume(round, static_cast<uint32_t>(u), shown);
    };
    if (options_.pool != nullptr) {
      options_.pool->ParallelFor(n_users, consume);
    } else {
      for (uint32_t u = 0; u < n_users; ++u) consume(u);
    }

    mark(&times.consume);

    // 5. Feedback: durable first, then to the ranker and the generator.
    std::vector<v1::Interaction> interactions;
    absl::flat_hash_map<uint64_t, v1::ItemOutcome> outcomes;
    const uint64_t round_prefix = uint64_t{round} << 32;
    for (uint32_t u = 0; u < n_users; ++u) {
      const Consumption& c = consumption[u];
      for (size_t k = 0; k < c.positions.size(); ++k) {
        v1::Interaction& x = interactions.emplace_back();
        x.set_user_id(u);
        x.set_position(c.positions[k]);
        x.set_item_id(slates[u].item_ids(c.positions[k]));
        x.set_engaged(c.engaged[k]);
        if ((x.item_id() >> 32) == (round_prefix >> 32)) {
          v1::ItemOutcome& o = outcomes[x.item_id()];
          o.set_item_id(x.item_id());
          o.set_impressions(o.impressions() + 1);
          o.set_engagements(o.engagements() + (c.engaged[k] ? 1 : 0));
        }
      }
    }
    if (!interactions.empty()) {
      FEEDLOOP_RETURN_IF_ERROR(
          clients_.store->LogInteractions(run_id, round, interactions));
    }
    v1::RecordFeedbackRequest feedback;
    feedback.set_run_id(run_id);
    feedback.set_round(round);
    feedback.mutable_interactions()->Add(interactions.begin(), interactions.end());
    FEEDLOOP_RETURN_IF_ERROR(with_ranker(round, [&] {
      v1::RecordFeedbackResponse resp;
      absl::Status s = Call(clients_.ranker,
                            &v1::RankerService::Stub::RecordFeedback, feedback,
                            &resp, deadline, "ranker RecordFeedback");
      // Already recorded: a retry after a lost reply.
      return absl::IsAlreadyExists(s) ? absl::OkStatus() : s;
    }));
    v1::ObserveRequest observe;
    observe.set_run_id(run_id);
    observe.set_round(round);
    std::vector<uint64_t> observed_ids;
    for (const auto& [id, o] : outcomes) observed_ids.push_back(id);
    std::sort(observed_ids.begin(), observed_ids.end());
    for (uint64_t id : observed_ids) *observe.add_outcomes() = outcomes[id];
    v1::ObserveResponse observed;
    FEEDLOOP_RETURN_IF_ERROR(Call(clients_.generator,
                                  &v1::GeneratorService::Stub::Observe, observe,
                                  &observed, deadline, "generator Observe"));

    mark(&times.feedback);

    // 6. Measure, and drift interests.
    metrics::RoundRecorder::Observed input;
    input.round = round;
    input.slates = slates;
    input.consumption = consumption;
    input.interests = users.Interests();
    input.creator_drift = observed.state().creator_drift();
    input.interest_drift = users.MeanInterestDrift();
    std::vector<v1::MetricValue> values = tracker.Measure(input);
    FEEDLOOP_RETURN_IF_ERROR(clients_.store->WriteMetrics(
        run_id, round, values, /*advance_progress=*/true));
    {
      // Before retiring: the consumed items' embeddings must still be live.
      std::vector<std::vector<std::span<const float>>> consumed(n_users);
      for (uint32_t u = 0; u < n_users; ++u) {
        const Consumption& c = consumption[u];
        for (size_t k = 0; k < c.positions.size(); ++k) {
          if (c.engaged[k]) {
            consumed[u].push_back(
                tracker.Embedding(slates[u].item_ids(c.positions[k])));
          }
        }
      }
      users.Absorb(consumed);
    }
    tracker.RetireExpired(round);
    mark(&times.measure);
    if (options_.on_stage_times) options_.on_stage_times(round, times);
    if (on_round) {
      v1::RoundMetrics rm;
      rm.set_run_id(run_id);
      rm.set_round(round);
      rm.mutable_values()->Add(values.begin(), values.end());
      on_round(rm);
    }
  }
  return absl::OkStatus();
}

}  // namespace feedloop::loop
