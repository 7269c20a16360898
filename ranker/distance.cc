#include "ranker/distance.h"

#include <faiss/impl/DistanceComputer.h>

namespace feedloop::ranker {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FEEDLOOP_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FEEDLOOP_SIMD_CLONES
#endif

FEEDLOOP_SIMD_CLONES
float L2Squared(const float* a, const float* b, size_t d) {
  // Eight independent sums: the vectorizer maps them to lanes without
  // reordering any addition, so every clone computes the same floats.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= d; j += 8) {
    for (int l = 0; l < 8; ++l) {
      const float diff = a[j + l] - b[j + l];
      acc[l] += diff * diff;
    }
  }
  float tail = 0;
  for (; j < d; ++j) {
    const float diff = a[j] - b[j];
    tail += diff * diff;
  }
  float sum = tail;
  for (int l = 0; l < 8; ++l) sum += acc[l];
  return sum;
}

namespace {

struct FastL2Computer final : faiss::FlatCodesDistanceComputer {
  explicit FastL2Computer(const faiss::IndexFlatL2& index)
      : FlatCodesDistanceComputer(index.codes.data(), index.code_size),
        dim(static_cast<size_t>(index.d)) {}

  void set_query(const float* x) override { query = x; }
  float distance_to_code(const uint8_t* code) override {
    return L2Squared(query, Row(code), dim);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return L2Squared(Row(codes + i * code_size), Row(codes + j * code_size), dim);
  }
  static const float* Row(const uint8_t* code) {
    return reinterpret_cast<const float*>(code);
  }

  const size_t dim;
  const float* query = nullptr;
};

struct FastFlatL2 final : faiss::IndexFlatL2 {
  explicit FastFlatL2(int dim) : faiss::IndexFlatL2(dim) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
    return new FastL2Computer(*this);
  }
};

}  // namespace

std::unique_ptr<faiss::IndexFlatL2> MakeFastFlatL2(int dim) {
  return std::make_unique<FastFlatL2>(dim);
}

}  // namespace feedloop::ranker
