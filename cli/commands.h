// The `feedloop` subcommands. Each takes the positional arguments left after
// flag parsing (the command name removed) and returns the process exit code:
// 0 success, 1 failure while running, 2 bad usage or bad config.

#ifndef FEEDLOOP_CLI_COMMANDS_H_
#define FEEDLOOP_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/transport_flags.h"

namespace feedloop::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Where `feedloop run --serve` keeps the store, and `feedloop query` looks.
inline constexpr char kDefaultStoreAddress[] = "127.0.0.1:7001";

// --store, --ranker, --generator and --loop (cli/address_flags.cc); "" when
// not given.
struct ServiceAddresses {
  std::string store, ranker, generator, loop;
};
ServiceAddresses AddressesFromFlags();

// --owner (or `default_owner` when unset) and --lease.
struct Ownership {
  std::string owner;
  absl::Duration lease;
};
Ownership OwnershipFromFlags(const std::string& default_owner);
std::string HostName();

// --memory_budget in bytes; 0 when unset (the default budget).
// INVALID_ARGUMENT naming the flag when it is not a size.
absl::StatusOr<uint64_t> MemoryBudgetFromFlags();


int RunCommand(const std::vector<std::string>& args);
int QueryCommand(const std::vector<std::string>& args);
int ServeCommand(const std::vector<std::string>& args);
int HealthCommand(const std::vector<std::string>& args);
int ConformanceCommand(const std::vector<std::string>& args);

}  // namespace feedloop::cli

#endif  // FEEDLOOP_CLI_COMMANDS_H_
