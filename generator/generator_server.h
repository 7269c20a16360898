// The generator process: GeneratorService with its pools and the ranker as
// reward model, plus health and reflection. `feedloop serve generator`, the
// embedded run and the tests start it here.
//
//   GeneratorServer::Options options;
//   options.ranker_address = "127.0.0.1:7002";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server, GeneratorServer::Start(options));
//
// Thread-safe.

#ifndef FEEDLOOP_GENERATOR_GENERATOR_SERVER_H_
#define FEEDLOOP_GENERATOR_GENERATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/server.h"
#include "common/thread_pool.h"
#include "generator/generator_service.h"
#include "generator/reward_model.h"

namespace feedloop::generator {

class GeneratorServer {
 public:
  struct Options {
    // Address to serve on. Default: loopback, a port the OS picks.
    std::string listen = "127.0.0.1:0";
    // The ranker's address, for coupled runs. Default: "" (only runs with
    // alpha = 0 can open).
    std::string ranker_address;
    // The store's address, to resume runs past round 0 from. Default: ""
    // (runs open at round 0 only).
    std::string store_address;
    // Resume a run by observing its last round's outcomes again (false:
    // an ablation, see GeneratorServiceImpl). Default: true.
    bool replay_outcomes = true;
    // Worker threads; 0 means one per core. Default: 0.
    int threads = 0;
    // Requests that may wait before RESOURCE_EXHAUSTED. Default: 256.
    size_t max_queued_requests = 256;
    // Plaintext or TLS, for serving and for the connections this server
    // makes. Default: plaintext.
    Transport transport;
    // Prometheus metrics; borrowed, must outlive the server. Default: none.
    Telemetry* telemetry = nullptr;
  };

  static absl::StatusOr<std::unique_ptr<GeneratorServer>> Start(
      const Options& options);
  ~GeneratorServer();

  GeneratorServer(const GeneratorServer&) = delete;
  GeneratorServer& operator=(const GeneratorServer&) = delete;

  std::string address() const { return server_->address(); }
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  GeneratorServer() = default;

  std::unique_ptr<RankerRewardModel> reward_;
  std::unique_ptr<store::StoreClient> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ThreadPool> compute_pool_;
  std::unique_ptr<GeneratorServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_GENERATOR_SERVER_H_
