// Building MetricValues: a defined value, or an absent one with its reason.
//
//   std::vector<v1::MetricValue> out;
//   AddValue(&out, "exposure.coverage", 0.42);
//   AddAbsent(&out, "exposure.gini_shown", "fewer than two items were shown");

#ifndef FEEDLOOP_METRICS_METRIC_VALUE_H_
#define FEEDLOOP_METRICS_METRIC_VALUE_H_

#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/types.pb.h"

namespace feedloop::metrics {

inline void AddValue(std::vector<v1::MetricValue>* out, std::string_view name,
                     double value) {
  v1::MetricValue& v = out->emplace_back();
  v.set_name(std::string(name));
  v.set_value(value);
}

inline void AddAbsent(std::vector<v1::MetricValue>* out, std::string_view name,
                      std::string_view reason) {
  v1::MetricValue& v = out->emplace_back();
  v.set_name(std::string(name));
  v.set_absent(std::string(reason));
}

// `value` when it has one, else absent with `reason`.
inline void AddValueOr(std::vector<v1::MetricValue>* out, std::string_view name,
                       const std::optional<double>& value, std::string_view reason) {
  if (value.has_value()) {
    AddValue(out, name, *value);
  } else {
    AddAbsent(out, name, reason);
  }
}

// A value as text: "%.4f" (or "%.17g" when `exact`), or "absent (why)".
inline std::string FormatMetricValue(const v1::MetricValue& v, bool exact) {
  if (!v.absent().empty()) return "absent (" + v.absent() + ")";
  return absl::StrFormat(exact ? "%.17g" : "%.4f", v.value());
}

// A series' defined and absent rounds merged, in round order.
inline std::vector<std::pair<uint32_t, v1::MetricValue>> SeriesPoints(
    const v1::Series& s) {
  std::vector<std::pair<uint32_t, v1::MetricValue>> out;
  int i = 0, j = 0;
  while (i < s.rounds_size() || j < s.absent_rounds_size()) {
    v1::MetricValue v;
    v.set_name(s.metric());
    if (j >= s.absent_rounds_size() ||
        (i < s.rounds_size() && s.rounds(i) < s.absent_rounds(j))) {
      v.set_value(s.values(i));
      out.emplace_back(s.rounds(i++), std::move(v));
    } else {
      v.set_absent(s.absent_reasons(j));
      out.emplace_back(s.absent_rounds(j++), std::move(v));
    }
  }
  return out;
}

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_METRIC_VALUE_H_
