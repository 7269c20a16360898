// The loop process: ExperimentService (which plays the runs against the
// store, ranker and generator at the given addresses), with health and
// reflection. `feedloop serve loop` and the embedded stack start it here.
//
//   LoopServer::Options options;
//   options.store_address = "127.0.0.1:7001";   // and ranker, generator
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server, LoopServer::Start(options));
//
// Thread-safe.

#ifndef FEEDLOOP_STACK_LOOP_SERVER_H_
#define FEEDLOOP_STACK_LOOP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/service_host.h"

namespace feedloop {
namespace store {
class StoreClient;
}  // namespace store
namespace loop {
class ExperimentServiceImpl;
}  // namespace loop

namespace stack {

class LoopServer final : public HostedServer {
 public:
  struct Options : ServingOptions {
    // The other services' addresses. Required.
    std::string store_address;
    std::string ranker_address;
    std::string generator_address;
    // Run ownership (ExperimentServiceImpl::Options): this instance's
    // name, its lease, whether it adopts orphaned runs (at start and every
    // lease), and how long a round is retried. Defaults: "loop", 30 s,
    // false, 5 min.
    std::string owner = "loop";
    absl::Duration lease = absl::Seconds(30);
    bool adopt_orphans = false;
    absl::Duration retry_budget = absl::Minutes(5);
    // memory_budget is the ranker's and the generator's too
    // (ExperimentServiceImpl::Options). Default: false.
    bool memory_shared_with_services = false;
  };

  static absl::StatusOr<std::unique_ptr<LoopServer>> Start(const Options& options);
  ~LoopServer();

  loop::ExperimentServiceImpl* experiments() { return service_.get(); }
  store::StoreClient* store();

 private:
  struct Clients;  // the channels to the other services

  LoopServer();

  std::unique_ptr<Clients> clients_;
  std::unique_ptr<loop::ExperimentServiceImpl> service_;
};

}  // namespace stack
}  // namespace feedloop

#endif  // FEEDLOOP_STACK_LOOP_SERVER_H_
