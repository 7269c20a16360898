#include "common/vectors.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace feedloop {

absl::Status CheckEmbedding(std::span<const float> v, size_t dim,
                            absl::string_view field, bool require_unit) {
  if (v.size() != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": has ", v.size(), " values, expected dimension ",
                     dim));
  }
  double sq = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "]: is ", std::isnan(v[i]) ? "NaN" : "infinite"));
    }
    sq += static_cast<double>(v[i]) * v[i];
  }
  if (sq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": is the zero vector"));
  }
  if (require_unit && std::abs(std::sqrt(sq) - 1.0) > kUnitNormTolerance) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: has norm %.6g, expected a unit vector", field, std::sqrt(sq)));
  }
  return absl::OkStatus();
}

absl::Status CheckEmbeddingRows(std::span<const float> rows, size_t dim,
                                absl::string_view field, bool require_unit) {
  if (dim == 0 || rows.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": has ", rows.size(),
                     " values, not a multiple of the dimension ", dim));
  }
  for (size_t r = 0; r < rows.size() / dim; ++r) {
    absl::Status s = CheckEmbedding(rows.subspan(r * dim, dim), dim,
                                    absl::StrCat(field, "[row ", r, "]"),
                                    require_unit);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

double Dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

double Dot(std::span<const double> a, std::span<const double> b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double Norm(std::span<const double> a) { return std::sqrt(Dot(a, a)); }

bool Normalize(std::span<double> v) {
  const double n = Norm(v);
  if (n == 0) return false;
  for (double& x : v) x /= n;
  return true;
}

bool Normalize(std::span<float> v) {
  double sq = 0;
  for (float x : v) sq += static_cast<double>(x) * x;
  if (sq == 0) return false;
  const double inv = 1.0 / std::sqrt(sq);
  for (float& x : v) x = static_cast<float>(x * inv);
  return true;
}

}  // namespace feedloop
