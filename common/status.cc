#include "common/status.h"

#include "absl/strings/str_cat.h"

namespace feedloop {

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.message()));
}

std::string Quote(absl::string_view text, size_t max_chars) {
  if (text.size() <= max_chars) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, max_chars), "...' (", text.size(), " characters)");
}

}  // namespace feedloop
