// The store process: an ItemStore on disk, its worker pool, and the gRPC
// server carrying IngestService, DiversityService, health and reflection.
// `feedloop serve store`, `feedloop run` and the tests all start it here.
//
//   StoreServer::Options options;
//   options.data_dir = "/var/lib/feedloop/store";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server, StoreServer::Start(options));
//   std::cout << server->address();   // "127.0.0.1:41234"
//
// Thread-safe. Destroying it shuts the server down, then closes the store.

#ifndef FEEDLOOP_STORE_STORE_SERVER_H_
#define FEEDLOOP_STORE_STORE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/server.h"
#include "common/thread_pool.h"
#include "store/item_store.h"
#include "store/store_service.h"

namespace feedloop::store {

class StoreServer {
 public:
  struct Options {
    // Where the RocksDB database lives. Required.
    std::string data_dir;
    // Address to serve on. Default: loopback, a port the OS picks.
    std::string listen = "127.0.0.1:0";
    // Worker threads for requests. 0 means one per core. Default: 0.
    int threads = 0;
    // Requests that may wait for a worker before RESOURCE_EXHAUSTED.
    // Default: 1024.
    size_t max_queued_requests = 1024;
    // Sync the write-ahead log before acknowledging. Default: true.
    bool sync = true;
    // Plaintext or TLS, for serving and for the connections this server
    // makes. Default: plaintext.
    Transport transport;
    // Prometheus metrics; borrowed, must outlive the server. Default: none.
    Telemetry* telemetry = nullptr;
  };

  static absl::StatusOr<std::unique_ptr<StoreServer>> Start(
      const Options& options);
  ~StoreServer();

  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;

  std::string address() const { return server_->address(); }
  ItemStore* store() { return store_.get(); }
  // Stops serving, waiting up to `grace` for calls in flight.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  StoreServer() = default;

  std::unique_ptr<ItemStore> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<IngestServiceImpl> ingest_;
  std::unique_ptr<DiversityServiceImpl> diversity_;
  std::unique_ptr<GrpcServer> server_;
};

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_STORE_SERVER_H_
