// The metrics feedloop records every round, in the order reports show them,
// each with a one-line definition (DESIGN.md section 4).
//
//   for (const MetricInfo& m : MetricCatalog()) std::cout << m.name << "\n";
//   std::string_view what = DescribeMetric("content.vendi");

#ifndef FEEDLOOP_METRICS_CATALOG_H_
#define FEEDLOOP_METRICS_CATALOG_H_

#include <cstddef>
#include <span>
#include <string_view>

namespace feedloop::metrics {

struct MetricInfo {
  std::string_view name;
  std::string_view description;
};

// Content first, then creators, exposure, slates, consumption, users and
// lifecycle: the order of the data path.
std::span<const MetricInfo> MetricCatalog();

// The definition of `name`, or "" for a metric the catalog does not know.
std::string_view DescribeMetric(std::string_view name);

// The position of `name` in the catalog; unknown names sort after all known
// ones.
size_t CatalogOrder(std::string_view name);

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_CATALOG_H_
