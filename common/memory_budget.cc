#include "common/memory_budget.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace feedloop {
namespace {

// The cgroup (v2, then v1) memory limit of this process, or 0 for none.
uint64_t CgroupLimit() {
  for (const char* path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text) || text == "max") continue;
    uint64_t v = 0;
    if (absl::SimpleAtoi(text, &v) && v > 0) return v;
  }
  return 0;
}

}  // namespace

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(
    Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = other.budget_;
    bytes_ = other.bytes_;
    other.budget_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void MemoryBudget::Reservation::Release() {
  if (budget_ != nullptr) {
    absl::MutexLock lock(&budget_->mu_);
    budget_->reserved_ -= bytes_;
  }
  budget_ = nullptr;
  bytes_ = 0;
}

uint64_t MemoryBudget::AvailableMemory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  uint64_t machine = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  const uint64_t cgroup = CgroupLimit();
  if (machine == 0) machine = cgroup;
  if (cgroup > 0) machine = std::min(machine, cgroup);
  return machine == 0 ? uint64_t{4} << 30 : machine;
}

uint64_t MemoryBudget::DefaultLimit() { return AvailableMemory() / 2; }

absl::StatusOr<MemoryBudget::Reservation> MemoryBudget::Reserve(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  if (bytes > limit_ - std::min(limit_, reserved_)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        FormatBytes(bytes), " do not fit beside the ", FormatBytes(reserved_),
        " reserved of ", FormatBytes(limit_)));
  }
  reserved_ += bytes;
  return Reservation(this, bytes);
}

uint64_t MemoryBudget::reserved() const {
  absl::MutexLock lock(&mu_);
  return reserved_;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 6) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat(v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v,
                         kUnits[unit]);
}

absl::StatusOr<uint64_t> ParseBytes(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < t.size() && (std::isdigit(static_cast<unsigned char>(t[digits])) ||
                               t[digits] == '.')) {
    ++digits;
  }
  double number = 0;
  const std::string unit =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(digits)));
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  if (unit == "k" || unit == "kb" || unit == "kib") shift = 10;
  if (unit == "m" || unit == "mb" || unit == "mib") shift = 20;
  if (unit == "g" || unit == "gb" || unit == "gib") shift = 30;
  if (unit == "t" || unit == "tb" || unit == "tib") shift = 40;
  if (digits == 0 || shift < 0 || !absl::SimpleAtod(t.substr(0, digits), &number) ||
      number * double(uint64_t{1} << shift) < 1 ||
      number * double(uint64_t{1} << shift) >= 1.8e19) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), " is not a size: give bytes, or a number with K, M, G or T "
                     "(binary units), e.g. 12GiB"));
  }
  return static_cast<uint64_t>(number * double(uint64_t{1} << shift));
}

}  // namespace feedloop
