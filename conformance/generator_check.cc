// The generator's scenario, as the loop plays a run: open, then for rounds
// 0 and 1 generate (twice: a retry), ingest, log interactions, observe,
// commit the checkpoint; round 2 is generated. Then the generator is
// closed and reopened at round 2 (a restart: it resumes from the store),
// round 1 is redone, a second run of the same config is started, and bad
// requests are sent.

#include <cmath>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "conformance/conformance.h"
#include "conformance/scenario.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "model/outcomes.h"
#include "rpc/deadline.h"

namespace feedloop::conformance {
namespace {

using internal::Call;
using internal::ExpectCode;
using internal::Problem;
using internal::kCreators;
using internal::kDim;
using internal::kSlateSize;
using internal::kUsers;

using Stub = v1::GeneratorService::Stub;

constexpr size_t kMaxCheckpointBytes = size_t{64} << 20;

// What two generations are compared on: ids, creators and embeddings.
std::string Fingerprint(const std::vector<v1::Item>& items) {
  std::string out;
  for (const v1::Item& item : items) {
    absl::StrAppend(&out, item.id(), "/", item.creator_id(), "/", item.round(), ":");
    for (float x : item.embedding()) absl::StrAppend(&out, x, ",");
    absl::StrAppend(&out, ";");
  }
  return out;
}

class GeneratorScenario {
 public:
  GeneratorScenario(std::shared_ptr<grpc::Channel> channel, store::StoreClient& store,
                    const Options& options)
      : stub_(v1::GeneratorService::NewStub(std::move(channel))),
        store_(store),
        options_(options),
        config_(internal::ScenarioConfig(options.seed)) {}

  absl::StatusOr<Report> Run() {
    FEEDLOOP_RETURN_IF_ERROR(internal::PlayInRun(store_, config_, options_, "generator", &run_,
                                                 &rounds_done_, [this] { return Play(); }));
    return std::move(report_);
  }

 private:
  absl::Status Play() {
    if (!Open(run_)) return absl::OkStatus();
    for (uint32_t r = 0; r < 3; ++r) {
      FEEDLOOP_ASSIGN_OR_RETURN(bool go_on, PlayRound(r, /*observe=*/r < 2));
      if (!go_on) return absl::OkStatus();
    }
    FEEDLOOP_RETURN_IF_ERROR(CheckResume());
    CheckRedo();
    FEEDLOOP_RETURN_IF_ERROR(CheckSameSeed());
    CheckBadInput();
    return absl::OkStatus();
  }

  absl::Status OpenAt(const std::string& run_id, const v1::ExperimentConfig& config,
                      uint32_t round) {
    v1::OpenRunRequest open;
    open.set_run_id(run_id);
    *open.mutable_config() = config;
    open.set_round(round);
    v1::GeneratorRunState state;
    return Call(stub_.get(), &Stub::OpenRun, open, &state, options_.call_deadline,
                absl::StrCat("OpenRun(round ", round, ")"));
  }

  absl::Status Close(const std::string& run_id) {
    v1::CloseRunRequest close;
    close.set_run_id(run_id);
    v1::CloseRunResponse closed;
    return Call(stub_.get(), &Stub::CloseRun, close, &closed, options_.call_deadline, "CloseRun");
  }

  absl::Status Generate(const std::string& run_id, uint32_t round, std::vector<v1::Item>* out) {
    v1::GenerateRequest request;
    request.set_run_id(run_id);
    request.set_round(round);
    grpc::ClientContext ctx;
    SetTimeout(&ctx, options_.call_deadline);
    std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
        stub_->Generate(&ctx, request);
    out->clear();
    v1::GenerateResponse chunk;
    while (reader->Read(&chunk)) {
      for (v1::Item& item : *chunk.mutable_items()) out->push_back(std::move(item));
    }
    const absl::Status s = FromGrpcStatus(reader->Finish());
    if (s.ok()) return s;
    return absl::Status(s.code(), absl::StrCat("Generate(round ", round, ") answered ",
                                               absl::StatusCodeToString(s.code()), ": ",
                                               s.message()));
  }

  bool Open(const std::string& run_id) {
    if (!report_.Add("generator.open", "OpenRun(round 0) of a new run succeeds",
                     OpenAt(run_id, config_, 0))) {
      report_.Stop("OpenRun failed");
      return false;
    }
    report_.Add("generator.open_idempotent", "OpenRun(round 0) again (a retry) succeeds",
                OpenAt(run_id, config_, 0));
    return true;
  }

  absl::StatusOr<bool> PlayRound(uint32_t r, bool observe) {
    std::vector<v1::Item> items;
    absl::Status s = Generate(run_, r, &items);
    if (s.ok() && items.empty()) s = Problem(absl::StrCat("Generate(round ", r, ") streamed no item"));
    if (!report_.Add("generator.generate",
                     "Generate(round r) streams the round's items", s)) {
      report_.Stop(absl::StrCat("Generate(round ", r, ") failed"));
      return false;
    }
    const bool fields_ok = CheckItems(r, items);
    std::vector<v1::Item> again;
    s = Generate(run_, r, &again);
    if (s.ok() && Fingerprint(again) != Fingerprint(items)) {
      s = Problem(absl::StrCat("round ", r, " generated again streamed other items"));
    }
    report_.Add("generator.retry",
                "Generate(round r) again before Observe (a retry) streams the same items",
                s);
    generated_.push_back(items);
    if (!fields_ok) {
      report_.Stop(absl::StrCat("round ", r, "'s items cannot be stored"));
      return false;
    }
    s = store_.Ingest(run_, items);
    if (!report_.Add("generator.storable",
                     "the store accepts the generated items", s)) {
      report_.Stop(absl::StrCat("round ", r, "'s items cannot be stored"));
      return false;
    }
    if (!observe) return true;

    // Each user is shown kSlateSize of the round's items.
    std::vector<v1::Slate> slates(kUsers);
    for (uint32_t u = 0; u < kUsers; ++u) {
      slates[u].set_user_id(u);
      for (uint32_t p = 0; p < kSlateSize && p < items.size(); ++p) {
        slates[u].add_item_ids(items[(u * kSlateSize + p) % items.size()].id());
      }
    }
    const std::vector<v1::Interaction> xs = internal::InteractionsOf(options_.seed, r, slates);
    FEEDLOOP_RETURN_IF_ERROR(Annotate(store_.LogInteractions(run_, r, xs),
                                      "writing the scenario's interactions to the store"));
    v1::ObserveRequest request;
    request.set_run_id(run_);
    request.set_round(r);
    for (const v1::ItemOutcome& o : model::OutcomesOf(r, xs)) *request.add_outcomes() = o;
    v1::ObserveResponse observed;
    const std::string what = absl::StrCat("Observe(round ", r, ")");
    s = Call(stub_.get(), &Stub::Observe, request, &observed, options_.call_deadline, what);
    if (s.ok() && observed.checkpoint().size() > kMaxCheckpointBytes) {
      s = Problem(absl::StrCat(what, ": a checkpoint of ", observed.checkpoint().size(),
                               " bytes; at most 64 MiB is stored"));
    }
    if (!report_.Add("generator.observe",
                     "Observe(round r) succeeds and returns a checkpoint of at most 64 MiB",
                     s)) {
      report_.Stop(absl::StrCat(what, " failed"));
      return false;
    }
    FEEDLOOP_RETURN_IF_ERROR(Annotate(internal::Commit(store_, run_, r, observed.checkpoint()),
                                      "committing the scenario's round"));
    interactions_.push_back(xs);
    checkpoints_.push_back(observed.checkpoint());
    rounds_done_ = r + 1;
    return true;
  }

  // Ids, rounds, creators, embeddings and titles: what the store and the
  // loop rely on. Returns whether the items can be stored.
  bool CheckItems(uint32_t r, const std::vector<v1::Item>& items) {
    absl::Status fields, embedding, unique;
    for (size_t i = 0; i < items.size(); ++i) {
      const v1::Item& item = items[i];
      const std::string which = absl::StrCat("round ", r, ", item ", i, " (id ", item.id(), ")");
      if (fields.ok()) {
        if (item.id() == 0 || item.id() >= (uint64_t{1} << 63)) {
          fields = Problem(absl::StrCat(which, ": id outside [1, 2^63)"));
        } else if (item.round() != r) {
          fields = Problem(absl::StrCat(which, ": round ", item.round(), " in round ", r));
        } else if (item.creator_id() > kCreators) {
          fields = Problem(absl::StrCat(which, ": creator_id ", item.creator_id(), " of ",
                                        kCreators, " creators (", kCreators,
                                        " is the platform's)"));
        } else if (item.title().size() > 1024) {
          fields = Problem(absl::StrCat(which, ": a title of ", item.title().size(),
                                        " characters; at most 1024"));
        }
      }
      if (embedding.ok()) {
        double norm = 0;
        bool finite = true;
        for (float x : item.embedding()) {
          finite = finite && std::isfinite(x);
          norm += double{x} * x;
        }
        if (item.embedding_size() != static_cast<int>(kDim)) {
          embedding = Problem(absl::StrCat(which, ": ", item.embedding_size(),
                                           " floats; space.dim is ", kDim));
        } else if (!finite) {
          embedding = Problem(absl::StrCat(which, ": a NaN or infinite float"));
        } else if (std::fabs(std::sqrt(norm) - 1) > 1e-3) {
          embedding = Problem(absl::StrCat(which, ": norm ", std::sqrt(norm),
                                           "; embeddings are unit vectors"));
        }
      }
      if (unique.ok() && !ids_.insert(item.id()).second) {
        unique = Problem(absl::StrCat(which, ": id already used in this run"));
      }
    }
    report_.Add("generator.item_fields",
                "items carry an id in [1, 2^63), the round, a creator_id of the config's "
                "creators and a title of at most 1024 characters",
                fields);
    report_.Add("generator.embedding",
                "each embedding is a finite unit vector of space.dim floats", embedding);
    report_.Add("generator.unique_ids", "item ids are unique in the run, across rounds", unique);
    return fields.ok() && embedding.ok() && unique.ok();
  }

  // A restart: a run this generator never held, whose rounds 0 and 1 are
  // in the store (this run's items, interactions and checkpoints), opened
  // at round 2. It can only resume from the store.
  absl::Status CheckResume() {
    FEEDLOOP_ASSIGN_OR_RETURN(std::string restarted,
                              internal::CreateRun(store_, config_, options_, "generator-resume"));
    for (uint32_t r = 0; r < 2; ++r) {
      FEEDLOOP_RETURN_IF_ERROR(store_.Ingest(restarted, generated_[r]));
      FEEDLOOP_RETURN_IF_ERROR(store_.LogInteractions(restarted, r, interactions_[r]));
      FEEDLOOP_RETURN_IF_ERROR(internal::Commit(store_, restarted, r, checkpoints_[r]));
    }
    std::vector<v1::Item> items;
    absl::Status s = OpenAt(restarted, config_, 2);
    if (s.ok()) s = Generate(restarted, 2, &items);
    if (s.ok() && Fingerprint(items) != Fingerprint(generated_[2])) {
      s = Problem("round 2 generated after resuming from the store streamed other items");
    }
    report_.Add("generator.resume",
                "OpenRun(round 2) of a run it does not hold resumes from the store (the "
                "checkpoint committed with round 1): round 2 is generated as by the run "
                "that played rounds 0 and 1",
                s);
    (void)Close(restarted);
    return internal::FinishRun(store_, restarted, 2);
  }

  // Round 1 redone while the generator holds round 2.
  void CheckRedo() {
    std::vector<v1::Item> items;
    absl::Status s = OpenAt(run_, config_, 1);
    if (s.ok()) s = Generate(run_, 1, &items);
    if (s.ok() && Fingerprint(items) != Fingerprint(generated_[1])) {
      s = Problem("round 1 redone streamed other items than the first time");
    }
    report_.Add("generator.redo",
                "OpenRun(round 1) while it holds round 2 (a round redone) goes back: round 1 "
                "is generated as the first time",
                s);
  }

  // Another run of the same config and seed.
  absl::Status CheckSameSeed() {
    FEEDLOOP_ASSIGN_OR_RETURN(std::string twin,
                              internal::CreateRun(store_, config_, options_, "generator-twin"));
    std::vector<v1::Item> items;
    absl::Status s = OpenAt(twin, config_, 0);
    if (s.ok()) s = Generate(twin, 0, &items);
    if (s.ok() && Fingerprint(items) != Fingerprint(generated_[0])) {
      s = Problem("a second run of the same config and seed generated other items in round 0");
    }
    report_.Add("generator.seed_deterministic",
                "runs of the same config and seed generate the same items", s,
                Level::kRecommended);
    (void)Close(twin);
    return internal::FinishRun(store_, twin, 0);
  }

  void CheckBadInput() {
    std::vector<v1::Item> items;
    const std::string unknown =
        absl::StrCat(options_.run_prefix, "-no-such-run-", absl::ToUnixMillis(absl::Now()));
    report_.Add("generator.unknown_run", "Generate of a run it does not hold answers NOT_FOUND",
                ExpectCode(Generate(unknown, 0, &items), {absl::StatusCode::kNotFound},
                           "Generate of an unknown run"));
    v1::ExperimentConfig bad = config_;
    bad.mutable_space()->set_dim(0);
    report_.Add("generator.bad_config",
                "OpenRun of a config with space.dim 0 answers INVALID_ARGUMENT",
                ExpectCode(OpenAt(unknown, bad, 0), {absl::StatusCode::kInvalidArgument},
                           "OpenRun with space.dim 0"));
    report_.Add("generator.out_of_step",
                "Generate of a round of the run other than the next one answers "
                "FAILED_PRECONDITION (the loop then reopens the run)",
                ExpectCode(Generate(run_, 3, &items), {absl::StatusCode::kFailedPrecondition},
                           "Generate(round 3) while round 1 is generated"));
    absl::Status s = Generate(run_, 1, &items);
    if (s.ok() && Fingerprint(items) != Fingerprint(generated_[1])) {
      s = Problem("round 1 generated after the bad requests streamed other items");
    }
    report_.Add("generator.alive",
                "after the bad requests, Generate(round 1) still streams round 1's items", s);
    if (!report_.Add("generator.close", "CloseRun of an open run succeeds", Close(run_))) return;
    // A plug-in may forget a closed run, or keep it: a recommendation.
    report_.Add("generator.closed", "after CloseRun, Generate of the run answers NOT_FOUND",
                ExpectCode(Generate(run_, 1, &items), {absl::StatusCode::kNotFound},
                           "Generate after CloseRun"),
                Level::kRecommended);
  }

  std::unique_ptr<Stub> stub_;
  store::StoreClient& store_;
  const Options options_;
  const v1::ExperimentConfig config_;
  std::string run_;
  uint32_t rounds_done_ = 0;
  absl::flat_hash_set<uint64_t> ids_;             // every id generated in the run
  std::vector<std::vector<v1::Interaction>> interactions_;  // by round observed
  std::vector<std::string> checkpoints_;                     // by round observed
  std::vector<std::vector<v1::Item>> generated_;  // by round, as first generated
  Report report_;
};

}  // namespace

absl::StatusOr<Report> CheckGenerator(std::shared_ptr<grpc::Channel> generator,
                                      store::StoreClient& store, const Options& options) {
  return GeneratorScenario(std::move(generator), store, options).Run();
}

}  // namespace feedloop::conformance
