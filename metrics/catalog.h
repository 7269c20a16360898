// The metrics feedloop records every round, in the order reports show them,
// each with its definition and range (docs/metrics.md is the long form:
// what moves each metric and what does not).
//
//   for (const MetricInfo& m : MetricCatalog()) std::cout << m.name << "\n";
//   std::string_view what = DescribeMetric("content.vendi");
//   if (const RetiredMetric* r = FindRetired("exposure.gini_items")) ...
//
// Names are never reused with another meaning: a metric whose definition
// failed is retired (RetiredCatalog) and its successor gets a new name.

#ifndef FEEDLOOP_METRICS_CATALOG_H_
#define FEEDLOOP_METRICS_CATALOG_H_

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "feedloop/v1/config.pb.h"

namespace feedloop::metrics {

struct MetricInfo {
  std::string_view name;
  // One line: what the number is.
  std::string_view description;
  // The values it can take, e.g. "[0, 1]".
  std::string_view range;
};

// A name no longer recorded: old runs in a store may still hold it.
struct RetiredMetric {
  std::string_view name;
  std::string_view replaced_by;
  std::string_view why;
};

// Content first, then creators, exposure, slates, consumption, users and
// lifecycle: the order of the data path.
std::span<const MetricInfo> MetricCatalog();
std::span<const RetiredMetric> RetiredCatalog();

// The catalog entry of `name`, or null.
const MetricInfo* FindMetric(std::string_view name);
const RetiredMetric* FindRetired(std::string_view name);

// The one-line definition of `name`; for a retired name, a line saying so
// and what replaces it; "" for a name neither knows.
std::string DescribeMetric(std::string_view name);

// The position of `name` in the catalog; retired and unknown names sort
// after all current ones.
size_t CatalogOrder(std::string_view name);

// The metrics a final table leads with when the config names none
// (metrics.key_metrics empty).
const std::vector<std::string>& DefaultKeyMetrics();

// The metrics the final table and the report lead with, in order: the
// config's metrics.key_metrics, or DefaultKeyMetrics().
std::vector<std::string> KeyMetrics(const v1::ExperimentConfig& config);

// How every query names metrics: a full name ("content.vendi"), or a
// prefix ending in '.' ("content.") for a family.
inline bool MatchesFilter(std::string_view name, std::string_view filter) {
  if (!filter.empty() && filter.back() == '.') return name.substr(0, filter.size()) == filter;
  return name == filter;
}
// Whether `name` matches one of `filters`; an empty list matches every name.
template <typename Filters>
bool MatchesAnyFilter(std::string_view name, const Filters& filters) {
  if (std::empty(filters)) return true;
  for (const auto& f : filters) {
    if (MatchesFilter(name, f)) return true;
  }
  return false;
}

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_CATALOG_H_
