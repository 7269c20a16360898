#include "ranker/ranker_service.h"

#include "absl/strings/str_cat.h"
#include "rpc/reactors.h"
#include "common/status.h"
#include "common/vectors.h"
#include "config/config.h"
#include "config/cost.h"
#include "glog/logging.h"
#include "store/round_log.h"

namespace feedloop::ranker {
namespace {

// The round a read request names, if it names one.
template <typename Request>
std::optional<uint32_t> RoundOf(const Request& request) {
  if (!request.has_round()) return std::nullopt;
  return request.round();
}

// Where a ranker stands, as one number: 2r+1 once round r is indexed, 2r+2
// once its feedback is recorded too; 0 before anything.
uint64_t Position(const Ranker::State& s) {
  if (!s.round.has_value()) return 0;
  const bool fed = s.feedback_round.has_value() && *s.feedback_round == *s.round;
  return 2 * uint64_t{*s.round} + (fed ? 2 : 1);
}

// The rows of a request are `dim` floats each, and dim is the run's.
absl::Status CheckRequestDim(uint32_t dim, const Ranker& ranker, size_t floats,
                             absl::string_view rows_field) {
  if (dim == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dim: give the rows' dimension (this run's space.dim is ", ranker.dim(), ")"));
  }
  if (dim != ranker.dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dim: ", dim, " is not this run's dimension (space.dim ", ranker.dim(), ")"));
  }
  if (floats % dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        rows_field, ": ", floats, " floats are not whole rows of dim ", dim));
  }
  return absl::OkStatus();
}

void ToProto(const Neighbors& n, v1::Candidates* out) {
  out->mutable_item_ids()->Add(n.ids.begin(), n.ids.end());
  out->mutable_scores()->Add(n.scores.begin(), n.scores.end());
}

}  // namespace

RankerServiceImpl::RankerServiceImpl(store::StoreClient* store, ThreadPool* pool,
                                     const Options& options)
    : store_(store), pool_(pool), options_(options) {
  if (options_.telemetry != nullptr) {
    prometheus::Registry& registry = options_.telemetry->registry();
    live_items_ = &prometheus::BuildGauge()
                       .Name("feedloop_index_live_items")
                       .Help("Live items in the run's index")
                       .Register(registry);
    rebuilds_ = &prometheus::BuildGauge()
                     .Name("feedloop_index_rebuilds")
                     .Help("Index rebuilds of the run so far")
                     .Register(registry);
    round_ = &prometheus::BuildGauge()
                  .Name("feedloop_ranker_round")
                  .Help("The round the run's index is at (-1 before the first)")
                  .Register(registry);
  }
}

v1::RankerRunState RankerServiceImpl::StateOf(const std::string& run_id,
                                              const Ranker& ranker) {
  const Ranker::State s = ranker.state();
  v1::RankerRunState out;
  out.set_run_id(run_id);
  out.set_round(s.round.value_or(0));
  out.set_live_items(s.live_items);
  out.set_known_users(s.known_users);
  out.set_added(s.added);
  out.set_expired(s.expired);
  return out;
}

absl::StatusOr<std::shared_ptr<Ranker>> RankerServiceImpl::Find(
    const std::string& run_id) const {
  return runs_.Find(run_id);
}

absl::StatusOr<std::shared_ptr<Ranker>> RankerServiceImpl::Replay(
    const std::string& run_id, const v1::ExperimentConfig& config,
    uint64_t position, std::shared_ptr<void>* hold) {
  // A run rebuilt in place of its open self (the same config) keeps the
  // reservation it has: it is not counted twice.
  if (auto open = runs_.Get(run_id);
      open.has_value() && open->hold != nullptr &&
      open->config_bytes == config.SerializeAsString()) {
    *hold = open->hold;
  } else {
    FEEDLOOP_ASSIGN_OR_RETURN(
        *hold, config::HoldRun(config, config::Service::kRanker, run_id, options_.memory));
  }
  Ranker::Options ranker_options;
  ranker_options.pool = options_.compute_pool;
  ranker_options.search_threads = options_.search_threads;
  FEEDLOOP_ASSIGN_OR_RETURN(std::unique_ptr<Ranker> ranker,
                            Ranker::Create(config, ranker_options));
  FEEDLOOP_RETURN_IF_ERROR(CatchUp(run_id, *ranker, position));
  return std::shared_ptr<Ranker>(std::move(ranker));
}

absl::Status RankerServiceImpl::IndexRound(const std::string& run_id, Ranker& ranker,
                                           uint32_t round) {
  // The round's items straight into rows, a chunk at a time as the store
  // streams them: the round is never held in wire form.
  ItemPool::NewItems items;
  FEEDLOOP_RETURN_IF_ERROR(
      store_->ScanItems(run_id, round, round, [&](std::vector<v1::Item> chunk) {
        return items.Append(chunk, round, ranker.dim(), items.ids.size());
      }));
  return ranker.AdvanceRound(round, std::move(items));
}

absl::Status RankerServiceImpl::CatchUp(const std::string& run_id,
                                        Ranker& ranker, uint64_t want) {
  for (uint64_t at = Position(ranker.state()); at < want;
       at = Position(ranker.state())) {
    const uint32_t r = static_cast<uint32_t>(at / 2);
    const bool feedback_next = at % 2 == 1;  // round r indexed already
    const std::string context = absl::StrCat(
        "replaying ", feedback_next ? "the feedback of " : "", "round ", r, " of run '",
        run_id, "'");
    if (feedback_next) {
      FEEDLOOP_ASSIGN_OR_RETURN(
          store::StoredRound round,
          store::ReadRound(*store_, run_id, r, store::kRoundInteractions));
      FEEDLOOP_RETURN_IF_ERROR(Annotate(ranker.RecordFeedback(r, round.interactions), context));
      continue;
    }
    FEEDLOOP_RETURN_IF_ERROR(Annotate(IndexRound(run_id, ranker, r), context));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::RankerRunState> RankerServiceImpl::OpenRun(
    const v1::OpenRunRequest& request) {
  absl::MutexLock open_lock(&open_mu_);
  return OpenRunLocked(request);
}

absl::StatusOr<v1::RankerRunState> RankerServiceImpl::OpenRunLocked(
    const v1::OpenRunRequest& request) {
  FEEDLOOP_RETURN_IF_ERROR(config::ValidateConfig(request.config()));
  const std::string config_bytes = request.config().SerializeAsString();
  const uint64_t start_of_round = 2 * uint64_t{request.round()};
  std::shared_ptr<Ranker> ranker;
  {
    absl::MutexLock lock(&mu_);
    failed_.erase(request.run_id());  // an explicit open tries again
  }
  if (auto open = runs_.Get(request.run_id());
      open.has_value() && open->config_bytes == config_bytes) {
    ranker = open->value;
  }
  // At the start of the round, or with its items indexed (an AdvanceRound
  // of it again is then a no-op): nothing to do. Behind: catch up. Ahead
  // (the round is being redone after a failure): rebuild.
  if (ranker != nullptr) {
    const uint64_t at = Position(ranker->state());
    if (at == start_of_round || at == start_of_round + 1) {
      return StateOf(request.run_id(), *ranker);
    }
    if (at < start_of_round) {
      FEEDLOOP_RETURN_IF_ERROR(CatchUp(request.run_id(), *ranker, start_of_round));
      return StateOf(request.run_id(), *ranker);
    }
  }
  const absl::Time start = absl::Now();
  std::shared_ptr<void> hold;
  FEEDLOOP_ASSIGN_OR_RETURN(
      ranker, Replay(request.run_id(), request.config(), start_of_round, &hold));
  LOG(INFO) << "ranker: opened run " << request.run_id() << " at round "
            << request.round() << " (" << ranker->state().live_items
            << " live items) in " << absl::Now() - start;
  runs_.Put(request.run_id(), config_bytes, ranker, std::move(hold));
  return StateOf(request.run_id(), *ranker);
}

absl::StatusOr<std::shared_ptr<Ranker>> RankerServiceImpl::At(
    const std::string& run_id, std::optional<uint32_t> round, Need need) {
  const bool indexed = need == Need::kIndexed || need == Need::kIndexedOrLater;
  const bool exact = need == Need::kStartOfRound || need == Need::kIndexed;
  const uint64_t want = round.has_value() ? 2 * uint64_t{*round} + (indexed ? 1 : 0) : 0;
  // Reads see exactly the state their round names; a write may find its
  // step applied already (a retry).
  auto ready = [&](const Ranker& r) {
    if (!round.has_value()) return true;
    const uint64_t at = Position(r.state());
    return exact ? at == want : at >= want;
  };
  {
    absl::ReaderMutexLock lock(&mu_);
    auto failed = failed_.find(run_id);
    if (failed != failed_.end()) return failed->second;
  }
  absl::StatusOr<std::shared_ptr<Ranker>> found = Find(run_id);
  if (found.ok() && ready(**found)) return found;
  if (!found.ok() && !absl::IsNotFound(found.status())) return found.status();

  absl::MutexLock open_lock(&open_mu_);
  found = Find(run_id);
  if (found.ok() && ready(**found)) return found;
  absl::StatusOr<v1::RunRecord> record = store_->GetRun(run_id);
  if (absl::IsNotFound(record.status())) return found;
  FEEDLOOP_RETURN_IF_ERROR(record.status());
  // Only what the loop has done: the rounds the store has finished, and the
  // items of the one in progress. A request beyond that is not caught up
  // to; the call itself then says what is wrong with it.
  const uint64_t reachable = 2 * uint64_t{record->rounds_done()} + 1;
  if (found.ok()) {
    std::shared_ptr<Ranker> ranker = *found;
    if (want > reachable) return ranker;
    if (Position(ranker->state()) < want) {
      // Apply, one step at a time, what other replicas were told.
      FEEDLOOP_RETURN_IF_ERROR(CatchUp(run_id, *ranker, want));
      Publish(run_id);
      return ranker;
    }
  }
  // Never opened here, or ahead of a round being redone: build the run
  // from the store's record at the position asked (no round named: the
  // rounds the store has finished).
  const uint64_t position = round.has_value()
                                ? std::min(want, reachable)
                                : 2 * uint64_t{record->rounds_done()};
  absl::Status config_ok = config::ValidateConfig(record->config());
  std::shared_ptr<void> hold;
  absl::StatusOr<std::shared_ptr<Ranker>> built =
      config_ok.ok() ? Replay(run_id, record->config(), position, &hold)
                     : absl::StatusOr<std::shared_ptr<Ranker>>(config_ok);
  if (!built.ok()) {
    absl::Status s = Annotate(
        built.status(), absl::StrCat("ranker: cannot open run '", run_id, "' from the store"));
    // What will not change by trying again fails the run's calls at once,
    // until an OpenRun of it tries again.
    if (!absl::IsUnavailable(s) && !absl::IsDeadlineExceeded(s) && !absl::IsCancelled(s) &&
        !absl::IsResourceExhausted(s)) {
      absl::MutexLock lock(&mu_);
      failed_[run_id] = s;
    }
    LOG(WARNING) << s;
    return s;
  }
  LOG(INFO) << "ranker: opened run " << run_id << " from the store at round "
            << position / 2 << (position % 2 ? " (indexed)" : "") << " for a request";
  runs_.Put(run_id, record->config().SerializeAsString(), *built, std::move(hold));
  Publish(run_id);
  return *built;
}

absl::StatusOr<v1::RankerRunState> RankerServiceImpl::AdvanceRoundImpl(
    const v1::AdvanceRoundRequest& request) {
  FEEDLOOP_ASSIGN_OR_RETURN(
      std::shared_ptr<Ranker> ranker,
      At(request.run_id(), request.round(), Need::kStartOfRoundOrLater));
  const Ranker::State s = ranker->state();
  if (s.round.has_value() && *s.round >= request.round()) {
    return StateOf(request.run_id(), *ranker);  // a retried call
  }
  FEEDLOOP_RETURN_IF_ERROR(IndexRound(request.run_id(), *ranker, request.round()));
  return StateOf(request.run_id(), *ranker);
}

void RankerServiceImpl::Publish(const std::string& run_id) {
  if (live_items_ == nullptr) return;
  const prometheus::Labels labels = {{"run", run_id}};
  absl::StatusOr<std::shared_ptr<Ranker>> ranker = Find(run_id);
  if (!ranker.ok()) {  // closed
    live_items_->Add(labels).Set(0);
    return;
  }
  const Ranker::State s = (*ranker)->state();
  live_items_->Add(labels).Set(static_cast<double>(s.live_items));
  rebuilds_->Add(labels).Set(static_cast<double>(s.index_rebuilds));
  round_->Add(labels).Set(s.round.has_value() ? static_cast<double>(*s.round) : -1.0);
}

grpc::ServerUnaryReactor* RankerServiceImpl::OpenRun(
    grpc::CallbackServerContext* ctx, const v1::OpenRunRequest* request,
    v1::RankerRunState* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, OpenRun(*request));
    Publish(request->run_id());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankerServiceImpl::CloseRun(
    grpc::CallbackServerContext* ctx, const v1::CloseRunRequest* request,
    v1::CloseRunResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request]() -> absl::Status {
    FEEDLOOP_RETURN_IF_ERROR(runs_.Close(request->run_id()));
    Publish(request->run_id());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankerServiceImpl::AdvanceRound(
    grpc::CallbackServerContext* ctx, const v1::AdvanceRoundRequest* request,
    v1::RankerRunState* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, AdvanceRoundImpl(*request));
    Publish(request->run_id());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankerServiceImpl::Retrieve(
    grpc::CallbackServerContext* ctx, const v1::RetrieveRequest* request,
    v1::RetrieveResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::shared_ptr<Ranker> ranker,
        At(request->run_id(), RoundOf(*request), Need::kIndexed));
    FEEDLOOP_RETURN_IF_ERROR(CheckRequestDim(request->dim(), *ranker,
                                             request->queries_size(), "queries"));
    std::vector<Neighbors> out;
    FEEDLOOP_RETURN_IF_ERROR(
        ranker->Retrieve(AsSpan(request->queries()), request->k(), &out));
    for (const Neighbors& n : out) ToProto(n, response->add_results());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankerServiceImpl::Rank(
    grpc::CallbackServerContext* ctx, const v1::RankRequest* request,
    v1::RankResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::shared_ptr<Ranker> ranker,
        At(request->run_id(), RoundOf(*request), Need::kIndexed));
    google::protobuf::RepeatedPtrField<v1::UserQuery> users;
    *users.Add() = request->user();
    std::vector<v1::Slate> slates;
    FEEDLOOP_RETURN_IF_ERROR(
        ranker->RankBatch(users, request->slate_size(), &slates));
    *response->mutable_slate() = std::move(slates[0]);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankerServiceImpl::RankBatch(
    grpc::CallbackServerContext* ctx, const v1::RankBatchRequest* request,
    v1::RankBatchResponse* response) {
  return ServeUnary(ctx, pool_, *request,
                    [this, request, response](const Cancellation& cancel) -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::shared_ptr<Ranker> ranker,
        At(request->run_id(), RoundOf(*request), Need::kIndexed));
    std::vector<v1::Slate> slates;
    FEEDLOOP_RETURN_IF_ERROR(
        ranker->RankBatch(request->users(), request->slate_size(), &slates, cancel));
    response->mutable_slates()->Reserve(static_cast<int>(slates.size()));
    for (v1::Slate& s : slates) *response->add_slates() = std::move(s);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankerServiceImpl::ScoreItems(
    grpc::CallbackServerContext* ctx, const v1::ScoreItemsRequest* request,
    v1::ScoreItemsResponse* response) {
  return ServeUnary(ctx, pool_, *request,
                    [this, request, response](const Cancellation& cancel) -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::shared_ptr<Ranker> ranker,
        At(request->run_id(), RoundOf(*request), Need::kStartOfRound));
    FEEDLOOP_RETURN_IF_ERROR(CheckRequestDim(request->dim(), *ranker,
                                             request->candidates_size(), "candidates"));
    FEEDLOOP_RETURN_IF_ERROR(CheckRequestDim(request->dim(), *ranker,
                                             request->context_size(), "context"));
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::vector<float> scores,
        ranker->ScoreItems(
            AsSpan(request->candidates()), AsSpan(request->context()),
            std::span<const uint32_t>(request->user_ids().data(),
                                      request->user_ids_size()),
            request->sample_users(), request->seed(), cancel));
    response->mutable_scores()->Add(scores.begin(), scores.end());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankerServiceImpl::RecordFeedback(
    grpc::CallbackServerContext* ctx, const v1::RecordFeedbackRequest* request,
    v1::RecordFeedbackResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(
        std::shared_ptr<Ranker> ranker,
        At(request->run_id(), request->round(), Need::kIndexedOrLater));
    std::vector<v1::Interaction> xs(request->interactions().begin(),
                                    request->interactions().end());
    FEEDLOOP_RETURN_IF_ERROR(ranker->RecordFeedback(request->round(), xs));
    response->set_applied(xs.size());
    return absl::OkStatus();
  });
}

}  // namespace feedloop::ranker
