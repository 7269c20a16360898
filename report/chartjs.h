// Chart.js (Debian's libjs-chart.js, MIT licence), compiled in so that a
// report can inline it.

#ifndef FEEDLOOP_REPORT_CHARTJS_H_
#define FEEDLOOP_REPORT_CHARTJS_H_

#include <string_view>

namespace feedloop::report {

// The minified UMD build, with its licence header.
std::string_view ChartJs();

}  // namespace feedloop::report

#endif  // FEEDLOOP_REPORT_CHARTJS_H_
