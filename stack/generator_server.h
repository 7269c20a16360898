// The generator process: GeneratorService with its pools and the ranker as
// reward model, plus health and reflection. `feedloop serve generator`, the
// embedded run and the tests start it here.
//
//   GeneratorServer::Options options;
//   options.ranker_address = "127.0.0.1:7002";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server, GeneratorServer::Start(options));
//
// Thread-safe.

#ifndef FEEDLOOP_STACK_GENERATOR_SERVER_H_
#define FEEDLOOP_STACK_GENERATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "rpc/service_host.h"

namespace feedloop {
namespace store {
class StoreClient;
}  // namespace store
namespace generator {
class GeneratorServiceImpl;
class RankerRewardModel;
}  // namespace generator

namespace stack {

class GeneratorServer final : public HostedServer {
 public:
  struct Options : ServingOptions {
    // The ranker's address, for coupled runs. Default: "" (only runs with
    // alpha = 0 can open).
    std::string ranker_address;
    // The store's address, to resume runs past round 0 from. Default: ""
    // (runs open at round 0 only).
    std::string store_address;
    // Resume a run by observing its last round's outcomes again (false:
    // an ablation, see GeneratorServiceImpl). Default: true.
    bool replay_outcomes = true;
  };

  static absl::StatusOr<std::unique_ptr<GeneratorServer>> Start(
      const Options& options);
  ~GeneratorServer();


 private:
  GeneratorServer();

  std::unique_ptr<generator::RankerRewardModel> reward_;
  std::unique_ptr<store::StoreClient> store_;
  std::unique_ptr<generator::GeneratorServiceImpl> service_;
};

}  // namespace stack
}  // namespace feedloop

#endif  // FEEDLOOP_STACK_GENERATOR_SERVER_H_
