// Experiment configs: parsing, validation and sweep expansion. The one place
// that decides whether an ExperimentConfig is acceptable; every service that
// receives a config checks it here, so errors read the same everywhere.
//
//   FEEDLOOP_ASSIGN_OR_RETURN(v1::ExperimentConfig config,
//                             LoadConfigFile("configs/default.pbtxt"));
//   FEEDLOOP_RETURN_IF_ERROR(ValidateConfig(config));
//   FEEDLOOP_ASSIGN_OR_RETURN(std::vector<RunSpec> runs, ExpandSweep(config));
//
// Errors are INVALID_ARGUMENT and start with the field's path:
//   "generator.alpha: must be in [0, 1], got 1.5"
//   "configs/x.pbtxt:3:9: no field named 'alpah' in feedloop.v1.GeneratorConfig"

#ifndef FEEDLOOP_CONFIG_CONFIG_H_
#define FEEDLOOP_CONFIG_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/limits.h"
#include "feedloop/v1/config.pb.h"

namespace feedloop::config {


// Parses text format. Unknown fields and syntax errors are INVALID_ARGUMENT
// naming `source`, the line and the column.
absl::StatusOr<v1::ExperimentConfig> ParseConfig(absl::string_view text,
                                                 absl::string_view source);
// Reads and parses a file; NOT_FOUND when it cannot be read.
absl::StatusOr<v1::ExperimentConfig> LoadConfigFile(const std::string& path);

// Checks every field's range and the consistency between fields.
absl::Status ValidateConfig(const v1::ExperimentConfig& config);

// Sets the scalar field at `path` ("generator.alpha") from its text form
// (a number, true/false, or an enum value's name). INVALID_ARGUMENT for a
// path that names no scalar field or a value that does not parse.
absl::Status SetField(v1::ExperimentConfig* config, absl::string_view path,
                      absl::string_view value);

// One run of an experiment: a sweep point and replicate, config resolved.
struct RunSpec {
  // The config with the sweep value and replicate seed applied, and its
  // sweep section cleared.
  v1::ExperimentConfig config;
  std::string sweep_value;  // "" without a sweep
  uint32_t sweep_point = 0;
  uint32_t replicate = 0;
};

// The runs of a validated config: one per sweep value and replicate (one in
// all without a sweep). Each run is validated again after its value is set.
absl::StatusOr<std::vector<RunSpec>> ExpandSweep(
    const v1::ExperimentConfig& config);

// The seed of replicate `r` of a config with seed `seed` (r = 0 keeps it).
uint64_t ReplicateSeed(uint64_t seed, uint32_t replicate);

}  // namespace feedloop::config

#endif  // FEEDLOOP_CONFIG_CONFIG_H_
