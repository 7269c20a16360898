// `feedloop query`: diversity metrics over RPC, from a running store.
//
//   feedloop query runs     [--sweep ID] [--status DONE,RUNNING]
//   feedloop query series   RUN_ID... [--metrics content.,slate.ild] [--from N] [--to N]
//   feedloop query compare  (--sweep ID | RUN_ID...) [--metrics ...] [--window W]
//   feedloop query watch    RUN_ID [--metrics ...] [--from N]
//   feedloop query evaluate --run ID --items ID,ID,...
//   feedloop query evaluate --embeddings FILE.csv (one vector per line)
//
// Human tables by default; --format csv or json for pipes.

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/commands.h"
#include "rpc/server.h"
#include "common/paging.h"
#include "common/status.h"
#include "common/table.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "metrics/metric_value.h"
#include "metrics/summary.h"
#include "rpc/grpc_status.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, addr, feedloop::cli::kDefaultStoreAddress,
          "query: the store's address (feedloop run --serve listens there)");
ABSL_FLAG(std::string, format, "table", "query: table, csv or json");
ABSL_FLAG(std::string, sweep, "", "query: a sweep id (runs, compare)");
ABSL_FLAG(std::string, status, "",
          "query runs: only these statuses, comma-separated (e.g. DONE,RUNNING)");
ABSL_FLAG(std::string, metrics, "",
          "query: metric names or prefixes ending in '.', comma-separated");
ABSL_FLAG(uint32_t, from, 0, "query series/watch: first round");
ABSL_FLAG(int64_t, to, -1, "query series: last round (default: the last)");
ABSL_FLAG(uint32_t, window, 1,
          "query compare: average each run over its last W rounds");
ABSL_FLAG(std::string, run, "", "query evaluate: the run of --items");
ABSL_FLAG(std::string, items, "", "query evaluate: item ids, comma-separated");
ABSL_FLAG(std::string, embeddings, "",
          "query evaluate: a CSV file with one embedding per line");

namespace feedloop::cli {
namespace {

enum class Format { kTable, kCsv, kJson };

std::vector<std::string> Metrics() {
  const std::string m = absl::GetFlag(FLAGS_metrics);
  if (m.empty()) return {};
  return absl::StrSplit(m, ',', absl::SkipEmpty());
}

std::string Json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

void Print(const Table& table, Format format) {
  std::cout << (format == Format::kCsv ? table.RenderCsv() : table.Render());
}

int Fail(const absl::Status& s) {
  std::cerr << "feedloop query: " << s.message() << "\n";
  return s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                        : kExitFailure;
}

void Prepare(grpc::ClientContext* ctx) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
}

int Runs(v1::DiversityService::Stub* stub, Format format) {
  v1::ListRunsRequest req;
  req.set_sweep_id(absl::GetFlag(FLAGS_sweep));
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_status), ',', absl::SkipEmpty())) {
    v1::RunStatus status;
    if (!v1::RunStatus_Parse(std::string(s), &status)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--status: '", s, "' is not one of PENDING, RUNNING, DONE, FAILED, STOPPED")));
    }
    req.add_statuses(status);
  }
  v1::ListRunsResponse all;
  absl::Status listed = ForEachPage<v1::ListRunsResponse>(
      req,
      [&](const v1::ListRunsRequest& page_req, v1::ListRunsResponse* page) {
        grpc::ClientContext ctx;
        Prepare(&ctx);
        return FromGrpcStatus(stub->ListRuns(&ctx, page_req, page));
      },
      [&](v1::ListRunsResponse& page) {
        for (auto& r : *page.mutable_runs()) *all.add_runs() = std::move(r);
      });
  if (!listed.ok()) return Fail(listed);
  if (format == Format::kJson) {
    std::cout << Json(all);
    return kExitOk;
  }
  Table t({"run", "sweep", "value", "status", "rounds", "created"});
  for (const auto& r : all.runs()) {
    t.AddRow({r.run_id(), r.sweep_id(), r.sweep_value(),
              v1::RunStatus_Name(r.status()),
              absl::StrCat(r.rounds_done(), "/", r.config().rounds()),
              absl::FormatTime("%Y-%m-%d %H:%M:%S",
                               absl::FromUnixMillis(r.created_unix_ms()),
                               absl::LocalTimeZone())});
  }
  Print(t, format);
  return kExitOk;
}

int Series(v1::DiversityService::Stub* stub, const std::vector<std::string>& ids,
           Format format) {
  if (ids.empty()) {
    return Fail(absl::InvalidArgumentError("series: name one or more run ids"));
  }
  v1::GetSeriesRequest req;
  for (const auto& id : ids) req.add_run_ids(id);
  for (const auto& m : Metrics()) req.add_metrics(m);
  req.set_round_from(absl::GetFlag(FLAGS_from));
  if (absl::GetFlag(FLAGS_to) >= 0) {
    req.set_round_to(static_cast<uint32_t>(absl::GetFlag(FLAGS_to)));
  }
  v1::GetSeriesResponse all;
  absl::Status read = ForEachPage<v1::GetSeriesResponse>(
      req,
      [&](const v1::GetSeriesRequest& page_req, v1::GetSeriesResponse* page) {
        grpc::ClientContext ctx;
        Prepare(&ctx);
        return FromGrpcStatus(stub->GetSeries(&ctx, page_req, page));
      },
      [&](v1::GetSeriesResponse& page) {
        for (auto& s : *page.mutable_series()) *all.add_series() = std::move(s);
      });
  if (!read.ok()) return Fail(read);
  if (format == Format::kJson) {
    std::cout << Json(all);
    return kExitOk;
  }
  // An undefined round shows as an empty value and its reason.
  Table t({"run", "round", "metric", "value", "absent"});
  for (const auto& s : all.series()) {
    for (const auto& [round, v] : metrics::SeriesPoints(s)) {
      t.AddRow({s.run_id(), absl::StrCat(round), s.metric(),
                v.absent().empty()
                    ? absl::StrFormat(format == Format::kCsv ? "%.17g" : "%.4f", v.value())
                    : "",
                v.absent()});
    }
  }
  Print(t, format);
  return kExitOk;
}

int Compare(v1::DiversityService::Stub* stub,
            const std::vector<std::string>& ids, Format format) {
  v1::CompareRunsRequest req;
  for (const auto& id : ids) req.add_run_ids(id);
  req.set_sweep_id(absl::GetFlag(FLAGS_sweep));
  for (const auto& m : Metrics()) req.add_metrics(m);
  req.set_window(absl::GetFlag(FLAGS_window));
  grpc::ClientContext ctx;
  Prepare(&ctx);
  v1::CompareRunsResponse resp;
  if (absl::Status s = FromGrpcStatus(stub->CompareRuns(&ctx, req, &resp)); !s.ok()) {
    return Fail(s);
  }
  if (format == Format::kJson) {
    std::cout << Json(resp);
    return kExitOk;
  }
  // n: the runs a figure rests on; absent: runs where it was undefined;
  // runs: every run of the group, and those left out by status.
  Table t({resp.sweep_parameter().empty() ? "group" : resp.sweep_parameter(),
           "metric", "n", "absent", "mean", "ci_low", "ci_high", "runs"});
  for (const auto& g : resp.groups()) {
    const std::string group = !g.sweep_value().empty() ? g.sweep_value()
                              : g.run_ids_size() > 0   ? g.run_ids(0)
                                                       : "";
    const std::string runs = metrics::FormatRunsCounted(g);
    if (g.metrics().empty()) t.AddRow({group, "", "0", "0", "", "", "", runs});
    for (const auto& m : g.metrics()) {
      const bool any = m.n() > 0;
      t.AddRow({group, m.metric(), absl::StrCat(m.n()), absl::StrCat(m.absent()),
                any ? absl::StrFormat("%.4f", m.mean()) : "",
                any ? absl::StrFormat("%.4f", m.ci_low()) : "",
                any ? absl::StrFormat("%.4f", m.ci_high()) : "", runs});
    }
  }
  Print(t, format);
  if (format == Format::kTable && !resp.rule().empty()) std::cout << "n: " << resp.rule() << "\n";
  return kExitOk;
}

int Watch(v1::DiversityService::Stub* stub, const std::vector<std::string>& ids,
          Format format) {
  if (ids.size() != 1) {
    return Fail(absl::InvalidArgumentError("watch: name exactly one run id"));
  }
  v1::WatchRunRequest req;
  req.set_run_id(ids[0]);
  req.set_from_round(absl::GetFlag(FLAGS_from));
  for (const auto& m : Metrics()) req.add_metrics(m);
  grpc::ClientContext ctx;
  auto reader = stub->WatchRun(&ctx, req);
  v1::RoundMetrics rm;
  if (format == Format::kCsv) std::cout << "run,round,metric,value,absent\n";
  while (reader->Read(&rm)) {
    if (format == Format::kJson) {
      std::string line;
      (void)google::protobuf::util::MessageToJsonString(rm, &line);
      std::cout << line << "\n";
    } else if (format == Format::kCsv) {
      for (const auto& v : rm.values()) {
        std::cout << rm.run_id() << "," << rm.round() << "," << v.name() << ","
                  << (v.absent().empty() ? absl::StrFormat("%.17g", v.value()) : "")
                  << "," << CsvField(v.absent()) << "\n";
      }
    } else {
      std::vector<std::string> cells;
      for (const auto& v : rm.values()) {
        cells.push_back(v.absent().empty() ? absl::StrFormat("%s=%.4f", v.name(), v.value())
                                           : absl::StrCat(v.name(), "=absent"));
      }
      std::cout << "round " << rm.round() << "  " << absl::StrJoin(cells, "  ")
                << "\n";
    }
    std::cout.flush();
  }
  if (absl::Status s = FromGrpcStatus(reader->Finish()); !s.ok()) return Fail(s);
  return kExitOk;
}

int Evaluate(v1::DiversityService::Stub* stub, Format format) {
  v1::EvaluateRequest req;
  req.set_run_id(absl::GetFlag(FLAGS_run));
  for (absl::string_view id :
       absl::StrSplit(absl::GetFlag(FLAGS_items), ',', absl::SkipEmpty())) {
    uint64_t x;
    if (!absl::SimpleAtoi(id, &x)) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--items: '", id, "' is not an item id")));
    }
    req.add_item_ids(x);
  }
  const std::string path = absl::GetFlag(FLAGS_embeddings);
  if (!path.empty()) {
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--embeddings: ", path, " is a directory, not a CSV file of vectors")));
    }
    std::ifstream in(path);
    if (!in) return Fail(absl::NotFoundError(absl::StrCat("cannot read ", path)));
    std::string line;
    int line_number = 0;
    while (std::getline(in, line)) {
      ++line_number;
      if (line.empty()) continue;
      std::vector<absl::string_view> cells = absl::StrSplit(line, ',');
      if (req.dim() == 0) req.set_dim(static_cast<uint32_t>(cells.size()));
      if (cells.size() != req.dim()) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            path, ":", line_number, ": ", cells.size(), " values, expected ",
            req.dim())));
      }
      for (absl::string_view c : cells) {
        float x;
        if (!absl::SimpleAtof(c, &x)) {
          return Fail(absl::InvalidArgumentError(absl::StrCat(
              path, ":", line_number, ": ", Quote(c), " is not a number")));
        }
        req.add_embeddings(x);
      }
    }
    if (req.embeddings().empty()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--embeddings: ", path, " holds no vectors")));
    }
  }
  grpc::ClientContext ctx;
  Prepare(&ctx);
  v1::EvaluateResponse resp;
  if (absl::Status s = FromGrpcStatus(stub->Evaluate(&ctx, req, &resp)); !s.ok()) {
    return Fail(s);
  }
  if (format == Format::kJson) {
    std::cout << Json(resp);
    return kExitOk;
  }
  Table t({"metric", "value"});
  for (const auto& v : resp.values()) {
    t.AddRow({v.name(), metrics::FormatMetricValue(v, format == Format::kCsv)});
  }
  Print(t, format);
  return kExitOk;
}

}  // namespace

int QueryCommand(const std::vector<std::string>& args) {
  const std::string usage =
      "usage: feedloop query SUBCOMMAND [--addr HOST:PORT] [--format table|csv|json]\n"
      "  runs [--sweep ID] [--status DONE,RUNNING,...]     the runs in the store\n"
      "  series RUN... [--metrics M,P.] [--from R] [--to R] metric series (long format)\n"
      "  compare (--sweep ID | RUN...) [--metrics ...] [--window W]\n"
      "                                                    final values by sweep point, "
      "mean and 95% CI\n"
      "  watch RUN [--metrics ...] [--from R]              new rounds of a live run, "
      "as they finish\n"
      "  evaluate (--run RUN --items ID,... | --embeddings FILE.csv)\n"
      "                                                    content metrics of a set of "
      "items\n"
      "'feedloop query --help' describes the flags.";
  if (args.empty()) {
    std::cerr << usage << "\n";
    return kExitUsage;
  }
  const std::string format_flag = absl::GetFlag(FLAGS_format);
  Format format;
  if (format_flag == "table") {
    format = Format::kTable;
  } else if (format_flag == "csv") {
    format = Format::kCsv;
  } else if (format_flag == "json") {
    format = Format::kJson;
  } else {
    std::cerr << "feedloop query: --format must be table, csv or json\n";
    return kExitUsage;
  }
  absl::StatusOr<Transport> transport = TransportFromFlags();
  if (!transport.ok()) {
    std::cerr << "feedloop query: " << transport.status().message() << "\n";
    return kExitUsage;
  }
  auto channel = CreateChannel(absl::GetFlag(FLAGS_addr), *transport);
  // Fail fast, with the address, when nothing serves there.
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(3)))) {
    std::cerr << "feedloop query: no store answers at " << absl::GetFlag(FLAGS_addr)
              << " (start one with 'feedloop run --serve' or 'feedloop serve "
                 "store', or pass --addr)\n";
    return kExitFailure;
  }
  auto stub = v1::DiversityService::NewStub(channel);
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& what = args[0];
  if (what == "runs") return Runs(stub.get(), format);
  if (what == "series") return Series(stub.get(), rest, format);
  if (what == "compare") return Compare(stub.get(), rest, format);
  if (what == "watch") return Watch(stub.get(), rest, format);
  if (what == "evaluate") return Evaluate(stub.get(), format);
  std::cerr << "feedloop query: unknown query '" << what << "'\n" << usage << "\n";
  return kExitUsage;
}

}  // namespace feedloop::cli
