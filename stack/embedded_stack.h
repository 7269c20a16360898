// The services `feedloop run` runs on: each of store, ranker and generator
// is either started in this process or a deployed one at a given address;
// the loop always runs here. All of them still talk gRPC, on loopback ports
// the OS picks.
//
//   EmbeddedStack::Options options;
//   options.data_dir = "runs/.store";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto stack, EmbeddedStack::Start(options));
//   stack->experiments()->Start(config);
//
// Thread-safe.

#ifndef FEEDLOOP_STACK_EMBEDDED_STACK_H_
#define FEEDLOOP_STACK_EMBEDDED_STACK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/transport.h"
#include "stack/loop_server.h"  // and what it declares: the loop's service, the store client

namespace feedloop::stack {

class GeneratorServer;
class RankerServer;
class StoreServer;

class EmbeddedStack {
 public:
  struct Options {
    // The in-process store's database folder. Required unless
    // store_address is given.
    std::string data_dir;
    // Where the in-process store listens. Default: loopback, a port the OS
    // picks.
    std::string store_listen = "127.0.0.1:0";
    // Deployed services to use instead of starting them here; "" starts one
    // in this process. Default: all in this process.
    std::string store_address;
    std::string ranker_address;
    std::string generator_address;
    // Worker threads per service; 0 means one per core. Default: 0.
    int threads = 0;
    // Plaintext or TLS, for every server started here and every connection
    // made. Default: plaintext.
    Transport transport;
    // The loop's name in run records, and its lease. Default: "embedded"
    // (an in-process store is this process's alone, so a rerun takes its
    // runs back at once), 30 s.
    std::string owner = "embedded";
    absl::Duration lease = absl::Seconds(30);
    // The memory the runs of the services started here may reserve
    // together (they share this process). Default: 0, half of the
    // machine's or the container's memory (MemoryBudget::DefaultLimit()).
    uint64_t memory_budget_bytes = 0;
  };

  static absl::StatusOr<std::unique_ptr<EmbeddedStack>> Start(
      const Options& options);
  // Stops the loop first (runs stop after their current round), then the
  // generator, the ranker and the store.
  ~EmbeddedStack();

  EmbeddedStack(const EmbeddedStack&) = delete;
  EmbeddedStack& operator=(const EmbeddedStack&) = delete;

  loop::ExperimentServiceImpl* experiments();
  store::StoreClient* store();
  std::string store_address() const { return store_address_; }
  std::string ranker_address() const { return ranker_address_; }
  std::string generator_address() const { return generator_address_; }
  std::string loop_address() const;

 private:
  EmbeddedStack();

  std::string store_address_, ranker_address_, generator_address_;
  std::unique_ptr<StoreServer> store_;
  std::unique_ptr<RankerServer> ranker_;
  std::unique_ptr<GeneratorServer> generator_;
  std::unique_ptr<LoopServer> loop_;
};

}  // namespace feedloop::stack

#endif  // FEEDLOOP_STACK_EMBEDDED_STACK_H_
