// Small vector helpers on embeddings (spans of float) and the one place
// where an incoming embedding is checked.
//
//   FEEDLOOP_RETURN_IF_ERROR(CheckEmbedding(item.embedding(), dim,
//                                           "items[3].embedding"));

#ifndef FEEDLOOP_COMMON_VECTORS_H_
#define FEEDLOOP_COMMON_VECTORS_H_

#include <cstddef>
#include <span>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/repeated_field.h"

namespace feedloop {

// How far a unit vector's norm may stray from 1 (float rounding of
// normalized values stays far inside this).
inline constexpr double kUnitNormTolerance = 1e-3;

// OK when `v` has `dim` finite values and is not the zero vector; and, when
// `require_unit`, has norm 1 within kUnitNormTolerance. Otherwise
// INVALID_ARGUMENT naming `field` and the problem.
absl::Status CheckEmbedding(std::span<const float> v, size_t dim,
                            absl::string_view field, bool require_unit = true);

// Checks a row-major matrix of `dim`-wide rows: the size is a multiple of dim
// and each row passes CheckEmbedding (named field[row]).
absl::Status CheckEmbeddingRows(std::span<const float> rows, size_t dim,
                                absl::string_view field, bool require_unit);

// A proto's repeated float field as a span (no copy).
inline std::span<const float> AsSpan(
    const google::protobuf::RepeatedField<float>& field) {
  return {field.data(), static_cast<size_t>(field.size())};
}

double Dot(std::span<const float> a, std::span<const float> b);
double Dot(std::span<const double> a, std::span<const double> b);
double Norm(std::span<const double> a);
// Scales `v` to unit norm; leaves a zero vector unchanged and returns false.
bool Normalize(std::span<double> v);
bool Normalize(std::span<float> v);

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_VECTORS_H_
