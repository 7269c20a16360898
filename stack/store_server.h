// The store process: an ItemStore on disk and the gRPC server carrying
// IngestService (writes) and DiversityService (queries), with health and
// reflection. `feedloop serve store`, `feedloop run` and the tests all
// start it here.
//
//   StoreServer::Options options;
//   options.data_dir = "/var/lib/feedloop/store";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server, StoreServer::Start(options));
//   std::cout << server->address();   // "127.0.0.1:41234"
//
// Thread-safe. Destroying it shuts the server down, then closes the store.

#ifndef FEEDLOOP_STACK_STORE_SERVER_H_
#define FEEDLOOP_STACK_STORE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "rpc/service_host.h"

namespace feedloop {
namespace store {
class ItemStore;
class IngestServiceImpl;
}  // namespace store
namespace query {
class DiversityServiceImpl;
}  // namespace query

namespace stack {

class StoreServer final : public HostedServer {
 public:
  struct Options : ServingOptions {
    Options() { max_queued_requests = 1024; }
    // Where the RocksDB database lives. Required.
    std::string data_dir;
    // Sync the write-ahead log before acknowledging. Default: true.
    bool sync = true;
  };

  static absl::StatusOr<std::unique_ptr<StoreServer>> Start(
      const Options& options);
  ~StoreServer();

  store::ItemStore* store() { return store_.get(); }

 private:
  StoreServer();

  std::unique_ptr<store::ItemStore> store_;
  std::unique_ptr<store::IngestServiceImpl> ingest_;
  std::unique_ptr<query::DiversityServiceImpl> diversity_;
};

}  // namespace stack
}  // namespace feedloop

#endif  // FEEDLOOP_STACK_STORE_SERVER_H_
