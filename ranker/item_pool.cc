#include "ranker/item_pool.h"

#include "model/item_id.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status.h"
#include "common/vectors.h"
#include "model/item_life.h"

namespace feedloop::ranker {
namespace {


VectorIndex::Type TypeOf(v1::RankerConfig::IndexType t) {
  switch (t) {
    case v1::RankerConfig::IVF:
      return VectorIndex::Type::kIvf;
    case v1::RankerConfig::HNSW:
      return VectorIndex::Type::kHnsw;
    case v1::RankerConfig::FLAT:
      break;
  }
  return VectorIndex::Type::kFlat;
}

}  // namespace

VectorIndex::Options IndexOptionsFor(const v1::ExperimentConfig& config,
                                     int search_threads) {
  const v1::RankerConfig& r = config.ranker();
  VectorIndex::Options o;
  o.type = TypeOf(r.index());
  o.dim = config.space().dim();
  o.ivf_nlist = r.ivf_nlist();
  o.ivf_nprobe = r.ivf_nprobe();
  o.ivf_target_recall = r.ivf_target_recall();
  o.ivf_calibration_k = r.candidates();
  o.hnsw_m = r.hnsw_m();
  o.hnsw_ef_search = r.hnsw_ef_search();
  o.hnsw_ef_construction = r.hnsw_ef_construction();
  o.rebuild_dead_fraction = r.rebuild_dead_fraction();
  // The run's execution.threads bounds its FAISS calls too (a run
  // confined to one core), within the service's own bound.
  const int run_threads = static_cast<int>(config.execution().threads());
  o.search_threads = run_threads == 0       ? search_threads
                     : search_threads == 0 ? run_threads
                                           : std::min(run_threads, search_threads);
  o.seed = DeriveSeed(config.seed(), 0x1dc);
  return o;
}

absl::StatusOr<std::unique_ptr<ItemPool>> ItemPool::Create(
    const v1::ExperimentConfig& config, int search_threads) {
  FEEDLOOP_ASSIGN_OR_RETURN(
      std::unique_ptr<VectorIndex> index,
      VectorIndex::Create(IndexOptionsFor(config, search_threads)));
  return std::unique_ptr<ItemPool>(new ItemPool(config, std::move(index)));
}

ItemPool::ItemPool(const v1::ExperimentConfig& config,
                   std::unique_ptr<VectorIndex> index)
    : rc_(config.ranker()), dim_(config.space().dim()), index_(std::move(index)) {}

absl::Status ItemPool::NewItems::Append(std::span<const v1::Item> items, uint32_t round,
                                        uint32_t dim, size_t first) {
  for (size_t i = 0; i < items.size(); ++i) {
    const v1::Item& item = items[i];
    if (item.round() != round) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", first + i, "].round: ", item.round(), " is not round ", round));
    }
    if (static_cast<size_t>(item.embedding_size()) != dim) {  // names the dimension
      return CheckEmbedding(AsSpan(item.embedding()), dim,
                            absl::StrCat("items[", first + i, "].embedding"));
    }
  }
  ids.reserve(ids.size() + items.size());
  rows.reserve(rows.size() + items.size() * dim);
  for (const v1::Item& item : items) {
    ids.push_back(item.id());
    rows.insert(rows.end(), item.embedding().begin(), item.embedding().end());
  }
  return absl::OkStatus();
}

absl::Status ItemPool::Advance(uint32_t round, std::span<const v1::Item> items,
                               std::vector<uint64_t>* expired_out) {
  NewItems compact;
  FEEDLOOP_RETURN_IF_ERROR(compact.Append(items, round, dim_));
  return Advance(round, std::move(compact), expired_out);
}

absl::Status ItemPool::Advance(uint32_t round, NewItems items,
                               std::vector<uint64_t>* expired_out) {
  const uint32_t expected = round_.has_value() ? *round_ + 1 : 0;
  if (round != expected) {
    return absl::FailedPreconditionError(absl::StrCat(
        "round: the ranker is at ",
        round_.has_value() ? absl::StrCat("round ", *round_) : "no round yet",
        " and can only advance to round ", expected, ", not ", round));
  }
  // Check everything before changing anything.
  if (items.rows.size() != items.ids.size() * dim_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "items: ", items.rows.size(), " values for ", items.ids.size(),
        " items of dimension ", dim_));
  }
  absl::flat_hash_set<uint64_t> seen;
  for (size_t i = 0; i < items.ids.size(); ++i) {
    const uint64_t id = items.ids[i];
    FEEDLOOP_RETURN_IF_ERROR(model::CheckItemId(id, absl::StrCat("items[", i, "].id")));
    if (items_.contains(id) || !seen.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "].id: item ", id, " is already indexed"));
    }
    FEEDLOOP_RETURN_IF_ERROR(
        CheckEmbedding(std::span<const float>(items.rows).subspan(i * dim_, dim_), dim_,
                       absl::StrCat("items[", i, "].embedding")));
  }

  std::vector<uint64_t> expired;
  for (uint64_t id : live_ids_) {
    if (!model::LiveIn(items_.at(id).round, round, rc_.item_ttl_rounds())) {
      expired.push_back(id);
    }
  }
  FEEDLOOP_RETURN_IF_ERROR(index_->Remove(expired));
  for (uint64_t id : expired) items_.erase(id);
  if (!expired.empty()) {
    absl::flat_hash_set<uint64_t> gone(expired.begin(), expired.end());
    live_ids_.erase(std::remove_if(live_ids_.begin(), live_ids_.end(),
                                   [&](uint64_t id) { return gone.contains(id); }),
                    live_ids_.end());
  }
  // Popularity decays once per round; iteration order is irrelevant here.
  for (auto& [id, meta] : items_) meta.popularity *= rc_.popularity_decay();

  FEEDLOOP_RETURN_IF_ERROR(index_->Add(items.ids, std::move(items.rows)));
  for (uint64_t id : items.ids) {
    items_[id] = Meta{round, 0.0};
    live_ids_.push_back(id);
  }
  std::sort(live_ids_.begin(), live_ids_.end());
  round_ = round;
  last_added_ = items.ids.size();
  last_expired_ = expired.size();
  Refresh();
  if (expired_out != nullptr) *expired_out = std::move(expired);
  return absl::OkStatus();
}

bool ItemPool::LiveIn(uint64_t id, uint32_t round) const {
  auto it = items_.find(id);
  return it != items_.end() && model::LiveIn(it->second.round, round, rc_.item_ttl_rounds());
}

void ItemPool::Refresh() {
  double max_pop = 0;
  for (uint64_t id : live_ids_) max_pop = std::max(max_pop, items_.at(id).popularity);
  log1p_max_popularity_ = std::log1p(max_pop);
  if (!round_.has_value()) return;
  std::vector<std::pair<double, uint64_t>> scored;
  scored.reserve(live_ids_.size());
  for (uint64_t id : live_ids_) scored.emplace_back(NonRelevanceScore(id, *round_), id);
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  popular_.clear();
  popular_.reserve(scored.size());
  for (const auto& [score, id] : scored) popular_.push_back(id);
}

double ItemPool::PopularityScaled(double popularity) const {
  if (log1p_max_popularity_ <= 0) return 0;
  return std::log1p(popularity) / log1p_max_popularity_;
}

double ItemPool::Freshness(uint32_t item_round, uint32_t at_round) const {
  const double age = at_round >= item_round ? static_cast<double>(at_round - item_round) : 0;
  return std::exp2(-age / rc_.freshness_half_life());
}

double ItemPool::NonRelevanceScore(uint64_t id, uint32_t at_round) const {
  const Meta& meta = items_.at(id);
  return rc_.weight_popularity() * PopularityScaled(meta.popularity) +
         rc_.weight_freshness() * Freshness(meta.round, at_round);
}

double ItemPool::NewItemScore() const { return rc_.weight_freshness(); }

std::vector<float> ItemPool::MeanVector() const {
  std::vector<float> out(dim_, 0.0f);
  if (live_ids_.empty()) return out;
  std::vector<double> sum(dim_, 0.0);
  for (uint64_t id : live_ids_) {
    const float* e = index_->Vector(id);
    for (uint32_t d = 0; d < dim_; ++d) sum[d] += e[d];
  }
  for (uint32_t d = 0; d < dim_; ++d) {
    out[d] = static_cast<float>(sum[d] / static_cast<double>(live_ids_.size()));
  }
  return out;
}

}  // namespace feedloop::ranker
