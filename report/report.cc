#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"
#include "metrics/catalog.h"
#include "metrics/summary.h"
#include "report/chartjs.h"

namespace feedloop::report {
namespace {

// Debian's Abseil has its own string_view, which StrCat needs.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// Text for HTML element content and attribute values.
std::string Html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A JSON string literal. "</" is written "<\/" so the JSON can sit inside a
// <script> element whatever the strings hold.
std::string Json(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '/': out += (i > 0 && s[i - 1] == '<') ? "\\/" : "/"; break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// A JSON number; null (a gap in the chart) for NaN and infinities.
std::string Number(double x) {
  return std::isfinite(x) ? absl::StrFormat("%.9g", x) : "null";
}

bool ByCatalog(const std::string& a, const std::string& b) {
  const size_t oa = metrics::CatalogOrder(a), ob = metrics::CatalogOrder(b);
  return oa != ob ? oa < ob : a < b;
}

std::string GroupLabel(const v1::ExperimentSummary& summary,
                       const v1::CompareGroup& group) {
  if (summary.sweep_parameter().empty()) {
    return group.run_ids_size() == 1 ? group.run_ids(0) : "runs";
  }
  return absl::StrCat(summary.sweep_parameter(), " = ", group.sweep_value());
}

// Per group and metric: [[round, mean, ci_low, ci_high], ...] over the
// group's runs, each round summarized over the runs that have it.
std::string SeriesJson(const v1::CompareGroup& group,
                       const std::map<std::string, std::map<std::string, const v1::Series*>>&
                           by_run,
                       const std::vector<std::string>& metric_names) {
  std::vector<std::string> entries;
  for (const std::string& metric : metric_names) {
    std::map<uint32_t, std::vector<double>> at_round;
    for (const std::string& run_id : group.run_ids()) {
      auto run = by_run.find(run_id);
      if (run == by_run.end()) continue;
      auto s = run->second.find(metric);
      if (s == run->second.end()) continue;
      for (int i = 0; i < s->second->rounds_size() && i < s->second->values_size(); ++i) {
        // A point is the mean over the runs with a finite value there.
        if (!std::isfinite(s->second->values(i))) continue;
        at_round[s->second->rounds(i)].push_back(s->second->values(i));
      }
    }
    if (at_round.empty()) continue;
    std::vector<std::string> points;
    for (const auto& [round, xs] : at_round) {
      const v1::MetricSummary m = metrics::Summarize(metric, xs);
      points.push_back(absl::StrCat("[", round, ",", Number(m.mean()), ",",
                                    Number(m.ci_low()), ",", Number(m.ci_high()), "]"));
    }
    entries.push_back(absl::StrCat(Json(metric), ":[", absl::StrJoin(points, ","), "]"));
  }
  return absl::StrCat("{", absl::StrJoin(entries, ","), "}");
}

constexpr char kStyle[] = R"css(
:root { --fg: #1d2330; --muted: #5b6577; --line: #dde1e8; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif;
       color: var(--fg); background: var(--bg); }
header, main { max-width: 1400px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.meta { color: var(--muted); margin: 0; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 10px; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line);
        font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eef0f4; }
tr.section th { text-align: left; background: #f0f2f6; font-size: 12px;
                text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
td.metric span { display: block; color: var(--muted); font-size: 11.5px;
                 white-space: normal; max-width: 440px; }
.scroll { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
          gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px;
         padding: 10px 12px 6px; }
figcaption { font-weight: 600; }
figcaption span { display: block; font-weight: 400; color: var(--muted); font-size: 12px;
                  min-height: 2.6em; }
.status-FAILED, .status-STOPPED { color: #b3261e; }
pre { background: #fff; border: 1px solid var(--line); padding: 12px; overflow-x: auto;
      font-size: 12.5px; }
footer { color: var(--muted); font-size: 12px; padding: 24px; text-align: center; }
.maps { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px; }
)css";

// Draws one chart per metric from the JSON in #feedloop-data, then marks on
// each canvas what was painted (see report.h).
constexpr char kScript[] = R"js(
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('feedloop-data').textContent);
  const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
                   '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.substr(i, 2), 16));
  const rgba = (hex, a) => 'rgba(' + rgb(hex).join(',') + ',' + a + ')';
  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, "DejaVu Sans", sans-serif';
  const grid = document.getElementById('charts');
  let rendered = 0;
  data.metrics.forEach((metric) => {
    const figure = document.createElement('figure');
    const caption = document.createElement('figcaption');
    caption.textContent = metric.name;
    const what = document.createElement('span');
    what.textContent = metric.description;
    caption.appendChild(what);
    const canvas = document.createElement('canvas');
    canvas.setAttribute('data-metric', metric.name);
    figure.appendChild(caption);
    figure.appendChild(canvas);
    grid.appendChild(figure);

    const datasets = [];
    const lines = [];  // [r, g, b] of each drawn group
    const bands = [];
    data.groups.forEach((group, g) => {
      const points = group.series[metric.name];
      if (!points) return;
      const color = palette[g % palette.length];
      const xy = (k) => points.map((p) => ({x: p[0], y: p[k]}));
      if (group.n > 1) {
        bands.push(rgb(color));
        datasets.push({label: group.label + ' low', data: xy(2), band: true, order: 1,
                       borderWidth: 0, pointRadius: 0, fill: false});
        datasets.push({label: group.label + ' high', data: xy(3), band: true, order: 1,
                       borderWidth: 0, pointRadius: 0, fill: '-1',
                       backgroundColor: rgba(color, 0.18)});
      }
      // order 0: every line is drawn over every band.
      datasets.push({label: group.label, data: xy(1), order: 0, borderColor: color,
                     backgroundColor: color, borderWidth: 2,
                     pointRadius: points.length > 40 ? 0 : 2, fill: false});
      lines.push(rgb(color));
    });
    const chart = new Chart(canvas, {
      type: 'line',
      data: {datasets: datasets},
      options: {
        animation: false,
        aspectRatio: 1.7,
        interaction: {mode: 'nearest', axis: 'x', intersect: false},
        scales: {
          x: {type: 'linear', title: {display: true, text: 'round'},
              ticks: {precision: 0}},
          // Four significant digits: float noise around a constant would
          // otherwise print as 3.00000000000E-10.
          y: {title: {display: true, text: metric.name},
              ticks: {callback: (v) => Number(Number(v).toPrecision(4))}}
        },
        plugins: {
          legend: {labels: {filter: (item) => !datasets[item.datasetIndex].band,
                            boxWidth: 14}},
          tooltip: {filter: (item) => !item.dataset.band}
        }
      }
    });

    // What reached the plot area (not the legend): each line's colour, and
    // each band's, which is the same hue at low alpha on a clear canvas.
    const area = chart.chartArea;
    const pixels = canvas.getContext('2d').getImageData(
        area.left, area.top, area.right - area.left, area.bottom - area.top).data;
    const near = (i, c, tolerance) => Math.abs(pixels[i] - c[0]) +
        Math.abs(pixels[i + 1] - c[1]) + Math.abs(pixels[i + 2] - c[2]) < tolerance;
    const lineHits = lines.map(() => 0);
    const bandHits = bands.map(() => 0);
    let painted = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      const alpha = pixels[i + 3];
      if (alpha === 0) continue;
      ++painted;
      if (alpha >= 250) {
        lines.forEach((c, k) => { if (near(i, c, 12)) ++lineHits[k]; });
      } else if (alpha >= 30 && alpha <= 60) {
        bands.forEach((c, k) => { if (near(i, c, 30)) ++bandHits[k]; });
      }
    }
    const count = (hits) => hits.filter((h) => h >= 10).length;
    canvas.setAttribute('data-painted-pixels', painted);
    canvas.setAttribute('data-lines-expected', lines.length);
    canvas.setAttribute('data-lines-drawn', count(lineHits));
    canvas.setAttribute('data-bands-expected', bands.length);
    canvas.setAttribute('data-bands-drawn', count(bandHits));
    if (painted > 0) ++rendered;
  });
  document.body.setAttribute('data-charts-rendered', rendered);

  // The content map: one scatter per (sweep point, round), shared axes.
  let maps = 0;
  const mapGrid = document.getElementById('maps');
  if (data.map && mapGrid) {
    let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
    data.map.forEach((panel) => panel.points.forEach((p) => {
      for (let k = 0; k < 2; ++k) { lo[k] = Math.min(lo[k], p[k]); hi[k] = Math.max(hi[k], p[k]); }
    }));
    const colour = (c) => c < 0 ? '#000000' : 'hsl(' + ((c * 137) % 360) + ', 65%, 45%)';
    data.map.forEach((panel) => {
      const figure = document.createElement('figure');
      const caption = document.createElement('figcaption');
      caption.textContent = panel.group + ', round ' + panel.round;
      const canvas = document.createElement('canvas');
      canvas.className = 'map';
      canvas.setAttribute('data-points-expected', panel.points.length);
      figure.appendChild(caption);
      figure.appendChild(canvas);
      mapGrid.appendChild(figure);
      const chart = new Chart(canvas, {
        type: 'scatter',
        data: {datasets: [{data: panel.points.map((p) => ({x: p[0], y: p[1]})),
                           pointRadius: 2, pointBorderWidth: 0,
                           pointBackgroundColor: panel.points.map((p) => colour(p[2]))}]},
        options: {animation: false, aspectRatio: 1,
                  plugins: {legend: {display: false}, tooltip: {enabled: false}},
                  scales: {x: {min: lo[0], max: hi[0], title: {display: true, text: 'PC1'}},
                           y: {min: lo[1], max: hi[1], title: {display: true, text: 'PC2'}}}}
      });
      const area = chart.chartArea;
      const px = canvas.getContext('2d').getImageData(
          area.left, area.top, area.right - area.left, area.bottom - area.top).data;
      let painted = 0;
      for (let i = 3; i < px.length; i += 4) painted += px[i] > 0;
      canvas.setAttribute('data-painted-pixels', painted);
      if (painted > 0) ++maps;
    });
  }
  document.body.setAttribute('data-maps-rendered', maps);
})();
)js";

}  // namespace

std::string RenderReport(const v1::ExperimentSummary& summary,
                         const std::vector<v1::Series>& series, const ContentMap* map) {
  std::map<std::string, std::map<std::string, const v1::Series*>> by_run;
  std::set<std::string> names;
  for (const v1::Series& s : series) {
    by_run[s.run_id()][s.metric()] = &s;
  }
  for (const v1::CompareGroup& g : summary.groups()) {
    for (const std::string& run_id : g.run_ids()) {
      auto run = by_run.find(run_id);
      if (run == by_run.end()) continue;
      for (const auto& [metric, s] : run->second) names.insert(metric);
    }
    for (const v1::MetricSummary& m : g.metrics()) names.insert(m.metric());
  }
  // The experiment's key metrics lead, in the config's order; the rest
  // follow in catalog order.
  const std::vector<std::string> keys = metrics::KeyMetrics(summary.config());
  std::vector<std::string> metric_names;
  for (const std::string& k : keys) {
    if (names.erase(k) > 0) metric_names.push_back(k);
  }
  const size_t key_count = metric_names.size();
  std::vector<std::string> rest(names.begin(), names.end());
  std::sort(rest.begin(), rest.end(), ByCatalog);
  metric_names.insert(metric_names.end(), rest.begin(), rest.end());

  const std::string& id = summary.experiment_id();
  const bool sweep = !summary.sweep_parameter().empty();
  std::string html;
  absl::StrAppend(&html, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n",
                  "<meta charset=\"utf-8\">\n",
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
                  "<title>feedloop report: ", Html(id), "</title>\n<style>", kStyle,
                  "</style>\n</head>\n<body>\n");

  // ---- header
  std::vector<std::string> facts;
  facts.push_back(absl::StrCat(summary.runs_size(), summary.runs_size() == 1 ? " run" : " runs"));
  if (sweep) {
    std::vector<std::string> values;
    for (const v1::CompareGroup& g : summary.groups()) values.push_back(g.sweep_value());
    facts.push_back(absl::StrCat("sweep over ", summary.sweep_parameter(), ": ",
                                 absl::StrJoin(values, ", ")));
  }
  const uint32_t replicates = summary.config().sweep().replicates();
  if (replicates > 1) facts.push_back(absl::StrCat(replicates, " replicates per point"));
  facts.push_back(absl::StrCat(summary.config().rounds(), " rounds"));
  if (summary.wall_seconds() > 0) {
    facts.push_back(absl::StrFormat("%.1f s wall time", summary.wall_seconds()));
  }
  absl::StrAppend(&html, "<header>\n<h1>", Html(id), "</h1>\n<p class=\"meta\">",
                  Html(absl::StrJoin(facts, " · ")), "</p>\n</header>\n<main>\n");

  // ---- final table: metrics down, sweep points across
  absl::StrAppend(&html, "<h2>Final round</h2>\n");
  bool any_counted = false;
  for (const v1::CompareGroup& g : summary.groups()) any_counted |= g.run_ids_size() > 0;
  if (!any_counted) {
    absl::StrAppend(&html, "<p class=\"note\">No run finished every round (",
                    Html(summary.rule()), "); see the runs below.</p>\n");
  } else {
    absl::StrAppend(&html,
                    "<p class=\"note\">Each metric at the last round: the mean over "
                    "replicates ± half its 95% confidence interval (Student t). n: ",
                    Html(summary.rule()), ".</p>\n"
                    "<div class=\"scroll\"><table id=\"final\">\n<thead><tr><th>metric</th>");
    for (const v1::CompareGroup& g : summary.groups()) {
      absl::StrAppend(&html, "<th>", Html(GroupLabel(summary, g)), " <small>(n = ",
                      Html(metrics::FormatRunsCounted(g)), ")</small></th>");
    }
    absl::StrAppend(&html, "</tr></thead>\n<tbody>\n");
    for (size_t row = 0; row < metric_names.size(); ++row) {
      const std::string& metric = metric_names[row];
      if (row == 0 && key_count > 0) {
        absl::StrAppend(&html, "<tr class=\"section\"><th colspan=\"",
                        summary.groups_size() + 1, "\">Key metrics</th></tr>\n");
      } else if (row == key_count) {
        absl::StrAppend(&html, "<tr class=\"section\"><th colspan=\"",
                        summary.groups_size() + 1, "\">Other metrics</th></tr>\n");
      }
      absl::StrAppend(&html, "<tr", row < key_count ? " class=\"key\"" : "",
                      "><td class=\"metric\">", Html(metric), "<span>",
                      Html(metrics::DescribeMetric(metric)), "</span></td>");
      for (const v1::CompareGroup& g : summary.groups()) {
        std::string cell = "–";
        for (const v1::MetricSummary& m : g.metrics()) {
          if (m.metric() == metric) cell = metrics::FormatMeanCi(m);
        }
        absl::StrAppend(&html, "<td>", Html(cell), "</td>");
      }
      absl::StrAppend(&html, "</tr>\n");
    }
    absl::StrAppend(&html, "</tbody></table></div>\n");
  }

  // ---- charts, drawn by the script from the data below
  absl::StrAppend(&html, "<h2>Over rounds</h2>\n<p class=\"note\">",
                  sweep ? "One line per sweep point: the mean over its replicates"
                        : "One line per run",
                  replicates > 1 ? ", with its 95% confidence interval shaded" : "",
                  ".</p>\n<div class=\"charts\" id=\"charts\"></div>\n");

  // ---- the content itself
  std::string map_json = "null";
  if (map != nullptr && !map->panels.empty()) {
    absl::StrAppend(
        &html, "<h2>The content</h2>\n<p class=\"note\">New items at a few rounds of one "
               "run per sweep point, on the two principal axes of round 0's items (",
        absl::StrFormat("%.0f%%", 100 * map->explained),
        " of its variance; the same axes everywhere). Colour: creator; black: the "
        "platform's own items. Converging content gathers; specializing content "
        "spreads.</p>\n<div class=\"maps\" id=\"maps\"></div>\n");
    std::vector<std::string> panels;
    for (const ContentMap::Panel& p : map->panels) {
      std::vector<std::string> points;
      for (size_t i = 0; i < p.creator.size(); ++i) {
        points.push_back(absl::StrCat("[", Number(p.xy[2 * i]), ",", Number(p.xy[2 * i + 1]),
                                      ",", p.platform[i] ? -1 : static_cast<int64_t>(p.creator[i]),
                                      "]"));
      }
      panels.push_back(absl::StrCat("{\"group\":", Json(p.group), ",\"round\":", p.round,
                                    ",\"points\":[", absl::StrJoin(points, ","), "]}"));
    }
    map_json = absl::StrCat("[", absl::StrJoin(panels, ","), "]");
  }

  // ---- runs
  absl::StrAppend(&html,
                  "<h2>Runs</h2>\n<div class=\"scroll\"><table id=\"runs\">\n<thead><tr>"
                  "<th>run</th>",
                  sweep ? absl::StrCat("<th>", Html(summary.sweep_parameter()), "</th>") : "",
                  "<th>replicate</th><th>status</th><th>rounds</th><th>seconds</th>"
                  "<th>error</th></tr></thead>\n<tbody>\n");
  for (const v1::RunSummary& run : summary.runs()) {
    const std::string status = v1::RunStatus_Name(run.status());
    absl::StrAppend(&html, "<tr><td>", Html(run.run_id()), "</td>",
                    sweep ? absl::StrCat("<td>", Html(run.sweep_value()), "</td>") : "",
                    "<td>", run.replicate(), "</td><td class=\"status-", status, "\">",
                    status, "</td><td>", run.rounds_done(), "</td><td>",
                    absl::StrFormat("%.1f", run.seconds()), "</td><td>", Html(run.error()),
                    "</td></tr>\n");
  }
  absl::StrAppend(&html, "</tbody></table></div>\n");

  // ---- config
  std::string config_text;
  google::protobuf::TextFormat::PrintToString(summary.config(), &config_text);
  absl::StrAppend(&html, "<h2>Config</h2>\n<pre id=\"config\">", Html(config_text),
                  "</pre>\n</main>\n<footer>feedloop · charts by Chart.js (MIT), "
                  "inlined: this file needs no network</footer>\n");

  // ---- data and scripts
  std::vector<std::string> metric_json, group_json;
  for (const std::string& metric : metric_names) {
    metric_json.push_back(absl::StrCat("{\"name\":", Json(metric), ",\"description\":",
                                       Json(metrics::DescribeMetric(metric)), "}"));
  }
  for (const v1::CompareGroup& g : summary.groups()) {
    group_json.push_back(absl::StrCat("{\"label\":", Json(GroupLabel(summary, g)),
                                      ",\"n\":", g.run_ids_size(),
                                      ",\"series\":", SeriesJson(g, by_run, metric_names),
                                      "}"));
  }
  absl::StrAppend(&html, "<script type=\"application/json\" id=\"feedloop-data\">",
                  "{\"metrics\":[", absl::StrJoin(metric_json, ","), "],\"groups\":[",
                  absl::StrJoin(group_json, ","), "],\"map\":", map_json,
                  "}</script>\n<script>", Sv(ChartJs()),
                  "</script>\n<script>", kScript, "</script>\n</body>\n</html>\n");
  return html;
}

}  // namespace feedloop::report
