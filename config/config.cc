#include "config/config.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/random.h"
#include "common/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "metrics/catalog.h"

namespace feedloop::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(absl::string_view source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ",
                            message);
    }
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber,
                  const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  const std::string source_;
  std::string first_;
};

// Range checks that name the field. Closed bounds unless said otherwise.
class Checker {
 public:
  template <typename T>
  void Range(absl::string_view path, T value, T lo, T hi) {
    if (!status_.ok()) return;
    if (!(value >= lo && value <= hi)) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          path, ": must be in [", lo, ", ", hi, "], got ", value));
    }
  }
  // (lo, hi]
  void RangeOpenLow(absl::string_view path, double value, double lo,
                    double hi) {
    if (!status_.ok()) return;
    if (!(value > lo && value <= hi)) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          path, ": must be in (", lo, ", ", hi, "], got ", value));
    }
  }
  // [lo, hi)
  void RangeOpenHigh(absl::string_view path, double value, double lo,
                     double hi) {
    if (!status_.ok()) return;
    if (!(value >= lo && value < hi)) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          path, ": must be in [", lo, ", ", hi, "), got ", value));
    }
  }
  void Require(bool ok, absl::string_view path, absl::string_view message) {
    if (status_.ok() && !ok) {
      status_ = absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
    }
  }
  absl::Status status() const { return status_; }

 private:
  absl::Status status_;
};

// What a binary message can carry that no field of this version names: an
// unknown field (a newer client's, or a mistyped number), or a number no
// value of its enum has (proto3 keeps both). A config must not run with
// either: ranker.index = 99 would run as the default index.
absl::Status CheckKnown(const Message& m, const std::string& path) {
  const Reflection* r = m.GetReflection();
  if (const auto& unknown = r->GetUnknownFields(m); !unknown.empty()) {
    const google::protobuf::UnknownField& u = unknown.field(0);
    // A known field's number: a value its (closed) enum does not have,
    // kept aside by the parser, so the field reads as its default.
    if (const FieldDescriptor* f = m.GetDescriptor()->FindFieldByNumber(u.number())) {
      const std::string name = path.empty() ? f->name() : absl::StrCat(path, ".", f->name());
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ",
          u.type() == google::protobuf::UnknownField::TYPE_VARINT
              ? absl::StrCat(static_cast<int64_t>(u.varint()))
              : std::string("a value"),
          " is not a value this version knows",
          f->enum_type() != nullptr ? absl::StrCat(" of ", f->enum_type()->name()) : ""));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        path.empty() ? "config" : path, ": has ", unknown.field_count(),
        " field(s) this version does not know (field number ", u.number(), ")"));
  }
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    const std::string name = path.empty() ? f->name() : absl::StrCat(path, ".", f->name());
    const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      const std::string at = f->is_repeated() ? absl::StrCat(name, "[", i, "]") : name;
      if (f->type() == FieldDescriptor::TYPE_ENUM) {
        const int v = f->is_repeated() ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
        if (f->enum_type()->FindValueByNumber(v) == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(
              at, ": ", v, " is not a value of ", f->enum_type()->name()));
        }
      } else if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
        const Message& sub =
            f->is_repeated() ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f);
        FEEDLOOP_RETURN_IF_ERROR(CheckKnown(sub, at));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ExperimentConfig> ParseConfig(absl::string_view text,
                                                 absl::string_view source) {
  v1::ExperimentConfig config;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors(source);
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? absl::StrCat(source, ": cannot parse")
                               : errors.first());
  }
  return config;
}

absl::StatusOr<v1::ExperimentConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

absl::Status ValidateConfig(const v1::ExperimentConfig& c) {
  FEEDLOOP_RETURN_IF_ERROR(CheckKnown(c, ""));
  Checker k;
  k.Range<uint32_t>("rounds", c.rounds(), 1, 100000);

  const v1::SpaceConfig& s = c.space();
  k.Range<uint32_t>("space.dim", s.dim(), 2, kMaxDim);
  k.Range<uint32_t>("space.topics", s.topics(), 1, 1024);

  const v1::UserConfig& u = c.users();
  k.Range<uint32_t>("users.count", u.count(), 1, 10000000);
  k.Range<uint32_t>("users.slate_size", u.slate_size(), 1, 1000);
  k.Range<uint32_t>("users.attention", u.attention(), 1, u.slate_size());
  k.Range<double>("users.drift", u.drift(), 0, 1);
  k.Range<uint32_t>("users.max_topics", u.max_topics(), 1, s.topics());
  k.RangeOpenLow("users.dirichlet_concentration", u.dirichlet_concentration(),
                 0, 100);
  k.Range<double>("users.interest_noise", u.interest_noise(), 0, 10);
  k.RangeOpenLow("users.position_decay", u.position_decay(), 0, 1);
  k.Range<double>("users.engage_slope", u.engage_slope(), 0, 1000);
  k.Range<double>("users.engage_midpoint", u.engage_midpoint(), -1, 1);
  k.Range<double>("users.satiation", u.satiation(), 0, 10);
  k.RangeOpenHigh("users.satiation_recovery", u.satiation_recovery(), 0, 1);

  const v1::CreatorConfig& cr = c.creators();
  k.Range<uint32_t>("creators.count", cr.count(), 1, 1000000);
  k.Range<uint32_t>("creators.items_per_round", cr.items_per_round(), 1, 10000);
  k.Range<double>("creators.spread", cr.spread(), 0, 10);
  k.Range<double>("creators.home_spread", cr.home_spread(), 0, 10);
  k.Range<uint32_t>("creators.home_topics", cr.home_topics(), 0, s.topics());

  const v1::GeneratorConfig& g = c.generator();
  k.Range<double>("generator.alpha", g.alpha(), 0, 1);
  k.Range<uint32_t>("generator.max_candidates", g.max_candidates(), 1, 256);
  k.Range<uint32_t>("generator.reward_users", g.reward_users(), 1, kMaxScoreUsers);
  // The ranker's ScoreItems holds the scoring users' estimates.
  k.Require(uint64_t{std::min(g.reward_users(), u.count())} * s.dim() <= kMaxScoreUserFloats,
            "generator.reward_users",
            absl::StrCat("generator.reward_users x space.dim must be at most ",
                         kMaxScoreUserFloats, " (config/limits.h), got ",
                         uint64_t{std::min(g.reward_users(), u.count())} * s.dim()));
  k.RangeOpenLow("generator.winners_fraction", g.winners_fraction(), 0, 1);
  k.Range<double>("generator.adaptation_rate", g.adaptation_rate(), 0, 1);
  k.RangeOpenHigh("generator.ai_share", g.ai_share(), 0, 1);
  k.Range<double>("generator.volume_growth", g.volume_growth(), 0.5, 2);
  k.Range<uint32_t>("generator.probes", g.probes(), 1, 256);
  k.RangeOpenLow("generator.probe_spread", g.probe_spread(), 0, 10);
  k.Range<uint32_t>("generator.neighbours", g.neighbours(), 1, 10000);
  k.Range<double>("generator.cost_weight", g.cost_weight(), 0, 100);
  k.Range<double>("generator.cost_norm", g.cost_norm(), 1, 100);
  k.Range<uint32_t>("generator.max_items_per_round", g.max_items_per_round(), 1,
                    10000000);

  const v1::RankerConfig& r = c.ranker();
  k.Range<uint32_t>("ranker.ivf_nlist", r.ivf_nlist(), 0, 65536);
  k.Range<uint32_t>("ranker.ivf_nprobe", r.ivf_nprobe(), 0,
                    r.ivf_nlist() == 0 ? 65536 : r.ivf_nlist());
  k.Range<uint32_t>("ranker.hnsw_m", r.hnsw_m(), 4, 128);
  k.Range<uint32_t>("ranker.hnsw_ef_search", r.hnsw_ef_search(), 1, 4096);
  k.Range<uint32_t>("ranker.hnsw_ef_construction", r.hnsw_ef_construction(), 1,
                    4096);
  k.RangeOpenLow("ranker.ivf_target_recall", r.ivf_target_recall(), 0, 1);
  k.RangeOpenLow("ranker.rebuild_dead_fraction", r.rebuild_dead_fraction(), 0,
                 1);
  k.Range<uint32_t>("ranker.item_ttl_rounds", r.item_ttl_rounds(), 1, 100000);
  k.Range<uint32_t>("ranker.candidates", r.candidates(), u.slate_size(), 10000);
  k.Range<double>("ranker.weight_relevance", r.weight_relevance(), 0, 100);
  k.Range<double>("ranker.weight_popularity", r.weight_popularity(), 0, 100);
  k.Range<double>("ranker.weight_freshness", r.weight_freshness(), 0, 100);
  k.Range<double>("ranker.popularity_decay", r.popularity_decay(), 0, 1);
  k.RangeOpenLow("ranker.freshness_half_life", r.freshness_half_life(), 0,
                 100000);
  k.Range<double>("ranker.mmr_lambda", r.mmr_lambda(), 0, 1);
  k.Range<double>("ranker.epsilon", r.epsilon(), 0, 1);
  k.Range<double>("ranker.learning_rate", r.learning_rate(), 0, 1);
  k.Range<double>("ranker.skip_rate", r.skip_rate(), 0, 1);
  k.Range<double>("ranker.reward_slope", r.reward_slope(), 0, 1000);
  k.Range<double>("ranker.reward_midpoint", r.reward_midpoint(), -1, 1);
  k.Range<uint32_t>("ranker.cold_start_slots", r.cold_start_slots(), 0, u.slate_size());
  k.Range<double>("ranker.temperature", r.temperature(), 0, 100);
  k.RangeOpenLow("ranker.reward_position_decay", r.reward_position_decay(), 0, 1);
  k.Range<double>("ranker.reward_smoothing", r.reward_smoothing(), 0, 10);

  const v1::MetricsConfig& m = c.metrics();
  k.Range<uint32_t>("metrics.pair_samples", m.pair_samples(), 1, 10000000);
  k.Range<uint32_t>("metrics.jaccard_window", m.jaccard_window(), 1, 1000);
  k.Range<uint32_t>("metrics.jaccard_pairs", m.jaccard_pairs(), 1, 10000000);
  k.Range<double>("metrics.underserved_threshold", m.underserved_threshold(),
                  -1, 1);
  k.RangeOpenLow("metrics.tail_quantile", m.tail_quantile(), 0, 1);
  k.Require(m.tail_quantile() < 1, "metrics.tail_quantile", "must be below 1");
  k.Range<uint32_t>("metrics.tail_neighbors", m.tail_neighbors(), 1, 100);
  k.Range<uint32_t>("metrics.tail_reference", m.tail_reference(), 20, 100000);
  k.Require(m.key_metrics_size() <= 16, "metrics.key_metrics", "name at most 16 metrics");
  for (int i = 0; i < m.key_metrics_size(); ++i) {
    const std::string& name = m.key_metrics(i);
    const std::string field = absl::StrCat("metrics.key_metrics[", i, "]");
    if (const metrics::RetiredMetric* r = metrics::FindRetired(name)) {
      k.Require(false, field,
                absl::StrCat("'", name, "' is retired; use ",
                             absl::string_view(r->replaced_by.data(), r->replaced_by.size())));
    } else {
      k.Require(metrics::FindMetric(name) != nullptr, field,
                absl::StrCat(Quote(name), " is not a metric of the catalog (docs/metrics.md)"));
    }
  }

  const v1::ExecutionConfig& e = c.execution();
  k.Range<uint32_t>("execution.rank_batch_size", e.rank_batch_size(), 1, 10000);
  k.Range<uint32_t>("execution.threads", e.threads(), 0, 1024);
  k.Range<uint32_t>("execution.parallel_runs", e.parallel_runs(), 1, 64);

  if (c.has_sweep()) {
    const v1::SweepConfig& sw = c.sweep();
    k.Require(!sw.parameter().empty(), "sweep.parameter",
              "name the field to sweep, e.g. \"generator.alpha\"");
    k.Require(sw.values_size() >= 1 && sw.values_size() <= 1000, "sweep.values",
              "give between 1 and 1000 values");
    k.Range<uint32_t>("sweep.replicates", sw.replicates(), 1, 1000);
    k.Require(!absl::StartsWith(sw.parameter(), "sweep") &&
                  !absl::StartsWith(sw.parameter(), "execution"),
              "sweep.parameter", "cannot sweep the sweep or execution sections");
  }
  return k.status();
}

absl::Status SetField(v1::ExperimentConfig* config, absl::string_view path,
                      absl::string_view value) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  Message* message = config;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Descriptor* d = message->GetDescriptor();
    const Reflection* r = message->GetReflection();
    const FieldDescriptor* f = d->FindFieldByName(parts[i]);
    if (f == nullptr || f->is_repeated()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sweep.parameter: '", path, "' names no field (no '", parts[i],
          "' in ", d->name(), ")"));
    }
    if (i + 1 < parts.size()) {
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sweep.parameter: '", path, "': ", parts[i], " is not a section"));
      }
      message = r->MutableMessage(message, f);
      continue;
    }
    const std::string v(value);
    const std::string where =
        absl::StrCat("sweep.values: '", v, "' for ", path);
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double x;
        if (!absl::SimpleAtod(v, &x) || !std::isfinite(x)) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": not a number"));
        }
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
          r->SetDouble(message, f, x);
        } else {
          r->SetFloat(message, f, static_cast<float>(x));
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t x;
        if (!absl::SimpleAtoi(v, &x) ||
            (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 &&
             x > UINT32_MAX)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": not a non-negative integer"));
        }
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) {
          r->SetUInt32(message, f, static_cast<uint32_t>(x));
        } else {
          r->SetUInt64(message, f, x);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t x;
        if (!absl::SimpleAtoi(v, &x)) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": not an integer"));
        }
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
          r->SetInt32(message, f, static_cast<int32_t>(x));
        } else {
          r->SetInt64(message, f, x);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool x;
        if (!absl::SimpleAtob(v, &x)) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": not true/false"));
        }
        r->SetBool(message, f, x);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* e = f->enum_type()->FindValueByName(v);
        if (e == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, ": not a value of ", f->enum_type()->name()));
        }
        r->SetEnum(message, f, e);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(message, f, v);
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return absl::InvalidArgumentError(absl::StrCat(
            "sweep.parameter: '", path, "' is a section, not a value"));
    }
  }
  return absl::InvalidArgumentError("sweep.parameter: empty path");
}

uint64_t ReplicateSeed(uint64_t seed, uint32_t replicate) {
  return replicate == 0 ? seed : DeriveSeed(seed, 0x5eed, replicate);
}

absl::StatusOr<std::vector<RunSpec>> ExpandSweep(
    const v1::ExperimentConfig& config) {
  FEEDLOOP_RETURN_IF_ERROR(ValidateConfig(config));
  v1::ExperimentConfig base = config;
  base.clear_sweep();
  std::vector<RunSpec> runs;
  if (!config.has_sweep()) {
    runs.push_back({base, "", 0, 0});
    return runs;
  }
  const v1::SweepConfig& sweep = config.sweep();
  for (int p = 0; p < sweep.values_size(); ++p) {
    for (uint32_t rep = 0; rep < sweep.replicates(); ++rep) {
      RunSpec spec{base, sweep.values(p), static_cast<uint32_t>(p), rep};
      FEEDLOOP_RETURN_IF_ERROR(
          SetField(&spec.config, sweep.parameter(), sweep.values(p)));
      spec.config.set_seed(ReplicateSeed(config.seed(), rep));
      absl::Status valid = ValidateConfig(spec.config);
      if (!valid.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("sweep.values[", p, "] = '", sweep.values(p),
                         "': ", valid.message()));
      }
      runs.push_back(std::move(spec));
    }
  }
  return runs;
}

}  // namespace feedloop::config
