// Paged results, the one way: a server cuts a deterministic ordering into
// pages whose token is the next offset (as decimal text); a client follows
// the tokens until there are none.
//
//   // Server: the page of `all` that `request` asks for.
//   FEEDLOOP_ASSIGN_OR_RETURN(Page page,
//       PageOf(all.size(), request.page_token(), request.page_size(), 100, 1000));
//   for (size_t i = page.begin; i < page.end; ++i) *response->add_runs() = all[i];
//   response->set_next_page_token(page.next_token);
//
//   // Client: every page, in order.
//   FEEDLOOP_RETURN_IF_ERROR(ForEachPage<v1::GetSeriesResponse>(request,
//       [&](const auto& req, auto* page) { return Call(req, page); },
//       [&](auto& page) { for (auto& s : *page.mutable_series()) ...; }));
//
// Python mirrors ForEachPage once: feedloop.client._pages.
//
// Batches and streams are cut the same way by size: SplitBySize keeps each
// part under kMaxChunkBytes (far below the 64 MiB message limit) as well
// as under a count, so a round at dim 4096 travels as it does at dim 32.

#ifndef FEEDLOOP_COMMON_PAGING_H_
#define FEEDLOOP_COMMON_PAGING_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace feedloop {

struct Page {
  size_t begin = 0, end = 0;
  // "" on the last page.
  std::string next_token;
};

// The page [begin, end) of `total` results that `token` and `page_size`
// ask for: `page_size` 0 means `default_size`; above `max_size`, or a token
// this scheme did not make, is INVALID_ARGUMENT naming the field.
inline absl::StatusOr<Page> PageOf(size_t total, const std::string& token,
                                   size_t page_size, size_t default_size,
                                   size_t max_size) {
  if (page_size > max_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: ", page_size, " exceeds the limit of ", max_size));
  }
  if (page_size == 0) page_size = default_size;
  size_t offset = 0;
  if (!token.empty() && !absl::SimpleAtoi(token, &offset)) {
    return absl::InvalidArgumentError(
        "page_token: not a token returned by this service");
  }
  Page page;
  page.begin = offset < total ? offset : total;
  page.end = total - page.begin < page_size ? total : page.begin + page_size;
  if (page.end < total) page.next_token = absl::StrCat(page.end);
  return page;
}

// Calls `call(request, &page)` for each page, following next_page_token
// from `request`'s own page_token, and `take(page)` after each.
template <typename Response, typename Request, typename Call, typename Take>
absl::Status ForEachPage(Request request, Call call, Take take) {
  while (true) {
    Response page;
    FEEDLOOP_RETURN_IF_ERROR(call(request, &page));
    take(page);
    if (page.next_page_token().empty()) return absl::OkStatus();
    request.set_page_token(page.next_page_token());
  }
}

// The most bytes one part of a split batch or one message of a stream
// carries.
inline constexpr size_t kMaxChunkBytes = size_t{4} << 20;

// Consecutive parts [begin, end) of [0, n), each of at most `max_items`
// items and, by `size_of(i)`, at most `max_bytes` (an item larger alone
// is a part of its own).
template <typename SizeOf>
std::vector<std::pair<size_t, size_t>> SplitBySize(size_t n, size_t max_items,
                                                   SizeOf size_of,
                                                   size_t max_bytes = kMaxChunkBytes) {
  std::vector<std::pair<size_t, size_t>> parts;
  size_t begin = 0, bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t b = size_of(i);
    if (i > begin && (i - begin >= max_items || bytes + b > max_bytes)) {
      parts.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += b;
  }
  if (n > begin) parts.emplace_back(begin, n);
  return parts;
}

// How many rows of `row_bytes` fit one part, at most `max_rows`, at
// least one.
inline size_t RowsPerChunk(size_t row_bytes, size_t max_rows,
                           size_t max_bytes = kMaxChunkBytes) {
  const size_t fit = row_bytes == 0 ? max_rows : max_bytes / row_bytes;
  return std::max<size_t>(1, std::min(max_rows, fit));
}

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_PAGING_H_
