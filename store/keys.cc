#include "store/keys.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace feedloop::store {

absl::Status ValidateRunId(absl::string_view run_id, absl::string_view field) {
  if (run_id.empty() || run_id.size() > kMaxRunIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must have 1 to ", kMaxRunIdLength,
                     " characters, got ", run_id.size()));
  }
  for (char c : run_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": '", run_id, "' may only hold letters, digits, '.', '_', '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMetricName(absl::string_view name,
                                absl::string_view field) {
  if (name.empty() || name.size() > kMaxMetricNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": a metric name has 1 to ", kMaxMetricNameLength,
                     " characters"));
  }
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": '", name, "' may only hold a-z, 0-9, '.', '_'"));
    }
  }
  return absl::OkStatus();
}

void AppendBe32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
               static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}

void AppendBe64(std::string* out, uint64_t v) {
  AppendBe32(out, static_cast<uint32_t>(v >> 32));
  AppendBe32(out, static_cast<uint32_t>(v));
}

uint32_t ReadBe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) |
         (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

uint64_t ReadBe64(const char* p) {
  return (uint64_t{ReadBe32(p)} << 32) | ReadBe32(p + 4);
}

std::string RunPrefix(absl::string_view run_id) {
  std::string key;
  key.push_back(static_cast<char>(run_id.size()));
  key.append(run_id.data(), run_id.size());
  return key;
}

std::string ItemRoundPrefix(absl::string_view run_id, uint32_t round) {
  std::string key = RunPrefix(run_id);
  AppendBe32(&key, round);
  return key;
}

std::string ItemKey(absl::string_view run_id, uint32_t round, uint64_t id) {
  std::string key = ItemRoundPrefix(run_id, round);
  AppendBe64(&key, id);
  return key;
}

std::string ItemIdKey(absl::string_view run_id, uint64_t id) {
  std::string key = RunPrefix(run_id);
  AppendBe64(&key, id);
  return key;
}

std::string InteractionRoundPrefix(absl::string_view run_id, uint32_t round) {
  return ItemRoundPrefix(run_id, round);
}

std::string InteractionKey(absl::string_view run_id, uint32_t round,
                           uint32_t user, uint32_t position) {
  std::string key = InteractionRoundPrefix(run_id, round);
  AppendBe32(&key, user);
  AppendBe32(&key, position);
  return key;
}

std::string MetricKey(absl::string_view run_id, absl::string_view metric,
                      uint32_t round) {
  std::string key = RunPrefix(run_id);
  key.append(metric.data(), metric.size());
  key.push_back('\0');
  AppendBe32(&key, round);
  return key;
}

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return end;  // every byte 0xff: no finite bound; callers never hit this
}

bool ParseInteractionSuffix(absl::string_view suffix,
                            InteractionKeyParts* out) {
  if (suffix.size() != 12) return false;
  out->round = ReadBe32(suffix.data());
  out->user = ReadBe32(suffix.data() + 4);
  out->position = ReadBe32(suffix.data() + 8);
  return true;
}

bool ParseMetricSuffix(absl::string_view suffix, std::string* metric,
                       uint32_t* round) {
  if (suffix.size() < 6) return false;
  const size_t nul = suffix.size() - 5;
  if (suffix[nul] != '\0') return false;
  metric->assign(suffix.data(), nul);
  *round = ReadBe32(suffix.data() + nul + 1);
  return true;
}

std::string EncodeDouble(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  std::string out;
  AppendBe64(&out, bits);
  return out;
}

double DecodeDouble(absl::string_view bytes) {
  const uint64_t bits = ReadBe64(bytes.data());
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

namespace {
// A quiet NaN with a payload of our own: never a stored value (values are
// finite), so it marks an absence.
constexpr uint64_t kAbsentBits = 0x7ff8'0000'0ab5'e000ULL;
}  // namespace

std::string EncodeMetricValue(const v1::MetricValue& v) {
  if (v.absent().empty()) return EncodeDouble(v.value());
  std::string out;
  AppendBe64(&out, kAbsentBits);
  out.append(v.absent());
  return out;
}

bool DecodeMetricValue(absl::string_view bytes, v1::MetricValue* v) {
  if (bytes.size() < 8) return false;
  if (ReadBe64(bytes.data()) == kAbsentBits) {
    if (bytes.size() == 8) return false;  // an absence always says why
    v->set_value(0);
    v->set_absent(std::string(bytes.substr(8)));
    return true;
  }
  if (bytes.size() != 8) return false;
  v->set_value(DecodeDouble(bytes));
  v->clear_absent();
  return true;
}

}  // namespace feedloop::store
