// The loop process (ExperimentService, health, reflection) and the
// embedded stack that `feedloop run` uses: all four services in one
// process, on loopback ports the OS picks, still talking gRPC.
//
//   EmbeddedStack::Options options;
//   options.data_dir = "runs/.store";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto stack, EmbeddedStack::Start(options));
//   stack->experiments()->Start(config);
//
// Thread-safe.

#ifndef FEEDLOOP_LOOP_LOOP_SERVER_H_
#define FEEDLOOP_LOOP_LOOP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/server.h"
#include "common/thread_pool.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "generator/generator_server.h"
#include "loop/experiment_service.h"
#include "ranker/ranker_server.h"
#include "store/store_client.h"
#include "store/store_server.h"

namespace feedloop::loop {

class LoopServer {
 public:
  struct Options {
    // Address to serve on. Default: loopback, a port the OS picks.
    std::string listen = "127.0.0.1:0";
    // The other services' addresses. Required.
    std::string store_address;
    std::string ranker_address;
    std::string generator_address;
    // Worker threads; 0 means one per core. Default: 0.
    int threads = 0;
    // Plaintext or TLS, for serving and for the connections this server
    // makes. Default: plaintext.
    Transport transport;
    // Prometheus metrics (RPCs, and feedloop_run_rounds_done{run});
    // borrowed, must outlive the server. Default: none.
    Telemetry* telemetry = nullptr;
    // Run ownership (ExperimentServiceImpl::Options): this instance's
    // name, its lease, whether it adopts orphaned runs (at start and every
    // lease), and how long a round is retried. Defaults: "loop", 30 s,
    // false, 5 min.
    std::string owner = "loop";
    absl::Duration lease = absl::Seconds(30);
    bool adopt_orphans = false;
    absl::Duration retry_budget = absl::Minutes(5);
  };

  static absl::StatusOr<std::unique_ptr<LoopServer>> Start(const Options& options);
  ~LoopServer();

  LoopServer(const LoopServer&) = delete;
  LoopServer& operator=(const LoopServer&) = delete;

  std::string address() const { return server_->address(); }
  ExperimentServiceImpl* experiments() { return service_.get(); }
  store::StoreClient* store() { return store_.get(); }
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  LoopServer() = default;

  std::unique_ptr<store::StoreClient> store_;
  std::unique_ptr<v1::RankerService::Stub> ranker_;
  std::unique_ptr<v1::GeneratorService::Stub> generator_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ThreadPool> compute_pool_;
  std::unique_ptr<ExperimentServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
};

// The services `feedloop run` runs on: each of store, ranker and generator
// is either started in this process or a deployed one at a given address;
// the loop always runs here.
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
  };

  static absl::StatusOr<std::unique_ptr<EmbeddedStack>> Start(
      const Options& options);
  // Stops the loop first (runs stop after their current round), then the
  // generator, the ranker and the store.
  ~EmbeddedStack();

  ExperimentServiceImpl* experiments() { return loop_->experiments(); }
  store::StoreClient* store() { return loop_->store(); }
  std::string store_address() const { return store_address_; }
  std::string ranker_address() const { return ranker_address_; }
  std::string loop_address() const { return loop_->address(); }

 private:
  EmbeddedStack() = default;

  std::string store_address_, ranker_address_;
  std::unique_ptr<store::StoreServer> store_;
  std::unique_ptr<ranker::RankerServer> ranker_;
  std::unique_ptr<generator::GeneratorServer> generator_;
  std::unique_ptr<LoopServer> loop_;
};

}  // namespace feedloop::loop

#endif  // FEEDLOOP_LOOP_LOOP_SERVER_H_
