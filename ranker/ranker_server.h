// The ranker process: RankerService with its pools and store client, plus
// health and reflection. `feedloop serve ranker`, the embedded run and the
// tests start it here.
//
//   RankerServer::Options options;
//   options.store_address = "127.0.0.1:7001";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server, RankerServer::Start(options));
//
// Start binds first and reports NOT_SERVING over grpc.health.v1, reopens the
// runs the store lists as RUNNING (rebuilding their indexes), then reports
// SERVING. Thread-safe.

#ifndef FEEDLOOP_RANKER_RANKER_SERVER_H_
#define FEEDLOOP_RANKER_RANKER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/server.h"
#include "common/thread_pool.h"
#include "ranker/ranker_service.h"
#include "store/store_client.h"

namespace feedloop::ranker {

class RankerServer {
 public:
  struct Options {
    // Address to serve on. Default: loopback, a port the OS picks.
    std::string listen = "127.0.0.1:0";
    // The store's address. Required.
    std::string store_address;
    // Request worker threads; 0 means one per core. Default: 0.
    int threads = 0;
    // Requests that may wait before RESOURCE_EXHAUSTED. Default: 1024.
    size_t max_queued_requests = 1024;
    // OpenMP threads per FAISS search; 0 means FAISS's default. Default: 0.
    int search_threads = 0;
    // Plaintext or TLS, for serving and for the connections this server
    // makes. Default: plaintext.
    Transport transport;
    // Prometheus metrics; borrowed, must outlive the server. Default: none.
    Telemetry* telemetry = nullptr;
    // Replicas: closes client connections after this long so clients
    // re-resolve and spread over replicas added since (GrpcServer::Options).
    // Default: never.
    absl::Duration max_connection_age = absl::InfiniteDuration();
  };

  static absl::StatusOr<std::unique_ptr<RankerServer>> Start(
      const Options& options);
  ~RankerServer();

  RankerServer(const RankerServer&) = delete;
  RankerServer& operator=(const RankerServer&) = delete;

  std::string address() const { return server_->address(); }
  RankerServiceImpl* service() { return service_.get(); }
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  RankerServer() = default;

  std::unique_ptr<store::StoreClient> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ThreadPool> compute_pool_;
  std::unique_ptr<RankerServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
};

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_RANKER_SERVER_H_
