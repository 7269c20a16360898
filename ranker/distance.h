// The distance kernel of feedloop's HNSW index.
//
// Debian's libfaiss is built for baseline x86-64, so the distances HNSW
// computes one vector at a time run FAISS's scalar reference loop
// (fvec_L2sqr_ref: 53% of a served ranker's CPU under single-user Rank
// over HNSW). This kernel is compiled twice, for AVX2 and for the
// baseline, and the loader picks one for the machine (GCC target_clones).
// Both clones add in the same fixed order (eight partial sums over
// j mod 8, then the tail, then the partials in order, no fused
// multiply-add), so an index built and searched on one machine gives the
// same results on any other.
//
//   auto storage = MakeFastFlatL2(dim);   // an IndexFlatL2 using L2Squared
//   faiss::IndexHNSW hnsw(storage.release(), m);
//   hnsw.own_fields = true;

#ifndef FEEDLOOP_RANKER_DISTANCE_H_
#define FEEDLOOP_RANKER_DISTANCE_H_

#include <cstddef>
#include <memory>

#include <faiss/IndexFlat.h>

namespace feedloop::ranker {

// sum_j (a_j - b_j)^2 over d floats, in the order described above.
float L2Squared(const float* a, const float* b, size_t d);

// FAISS's flat L2 storage whose distance computer uses L2Squared.
std::unique_ptr<faiss::IndexFlatL2> MakeFastFlatL2(int dim);

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_DISTANCE_H_
