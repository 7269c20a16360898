// runs/<id>/report.html: what a data scientist opens after a run. One
// self-contained page that works offline (Chart.js is inlined, nothing is
// fetched):
//   - a header naming the experiment, its sweep and its size;
//   - the final table: every metric at the last round, one column per sweep
//     point, mean ± half the 95% interval over replicates;
//   - a chart per metric over rounds, one line per sweep point (the mean)
//     with a band for the 95% interval when there are replicates;
//   - a map of the content itself: new items at a few rounds per sweep
//     point, projected on the two principal axes of round 0's items (one
//     projection for the whole experiment), coloured by creator, platform
//     items in black, so a reader sees content converge or spread;
//   - the runs with their status, and the config in text format.
//
//   std::string html = RenderReport(result.summary, result.series);
//
// Once its scripts have run, the page marks what it drew, for tests and
// for anyone checking a report headlessly: every chart's <canvas> gets
// data-painted-pixels (pixels of the plot area not blank),
// data-lines-expected (sweep points with data), data-lines-drawn (points
// whose line colour shows in the plot area; lines that coincide hide each
// other), data-bands-expected and data-bands-drawn (the same for the
// interval bands), and <body> gets data-charts-rendered. Each map's
// <canvas class="map"> gets data-points-expected and data-painted-pixels,
// and <body> data-maps-rendered.

#ifndef FEEDLOOP_REPORT_REPORT_H_
#define FEEDLOOP_REPORT_REPORT_H_

#include <string>
#include <vector>

#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/summary.pb.h"

namespace feedloop::report {

// The content map: 2-D coordinates of sampled new items.
struct ContentMap {
  struct Panel {
    std::string group;      // the sweep point's label
    uint32_t round = 0;
    std::vector<float> xy;  // x0, y0, x1, y1, ...
    std::vector<uint32_t> creator;  // per point
    std::vector<bool> platform;     // per point
  };
  std::vector<Panel> panels;  // group by group, rounds ascending
  // The share of round 0's variance the two axes hold.
  double explained = 0;
};

// Renders the page. Lines are drawn for the summary's groups (the runs that
// finished); `series` holds every run's series, as CollectResults reads
// them. Series of runs outside the groups are ignored. `map` may be null
// (no map section).
std::string RenderReport(const v1::ExperimentSummary& summary,
                         const std::vector<v1::Series>& series,
                         const ContentMap* map = nullptr);

}  // namespace feedloop::report

#endif  // FEEDLOOP_REPORT_REPORT_H_
