// The ranker process: RankerService with its pools and store client, plus
// health and reflection. `feedloop serve ranker`, the embedded run and the
// tests start it here.
//
//   RankerServer::Options options;
//   options.store_address = "127.0.0.1:7001";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server, RankerServer::Start(options));
//
// SERVING as soon as it is bound: a run is opened from the store when a
// call first names it (RankerServiceImpl). Thread-safe.

#ifndef FEEDLOOP_STACK_RANKER_SERVER_H_
#define FEEDLOOP_STACK_RANKER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "rpc/service_host.h"

namespace feedloop {
namespace store {
class StoreClient;
}  // namespace store
namespace ranker {
class RankerServiceImpl;
}  // namespace ranker

namespace stack {

class RankerServer final : public HostedServer {
 public:
  struct Options : ServingOptions {
    Options() { max_queued_requests = 1024; }
    // The store's address. Required.
    std::string store_address;
    // OpenMP threads per FAISS search; 0 means FAISS's default. Default: 0.
    int search_threads = 0;
  };

  static absl::StatusOr<std::unique_ptr<RankerServer>> Start(
      const Options& options);
  ~RankerServer();

  ranker::RankerServiceImpl* service() { return service_.get(); }

 private:
  RankerServer();

  std::unique_ptr<store::StoreClient> store_;
  std::unique_ptr<ranker::RankerServiceImpl> service_;
};

}  // namespace stack
}  // namespace feedloop

#endif  // FEEDLOOP_STACK_RANKER_SERVER_H_
