// The skeleton every feedloop server process shares: a bounded pool for
// requests, a pool for the fan-out work requests start, and the gRPC server
// (health, reflection, telemetry) that serves its services.
//
//   struct Options : ServingOptions { std::string store_address; };
//   host_ = std::make_unique<ServiceHost>(options);
//   service_ = std::make_unique<MyService>(host_->request_pool());
//   FEEDLOOP_RETURN_IF_ERROR(host_->Serve({service_.get()}));
//   ...
//   host_->Stop();  // before the services are destroyed
//
// Thread-safe after Serve.

#ifndef FEEDLOOP_RPC_SERVICE_HOST_H_
#define FEEDLOOP_RPC_SERVICE_HOST_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "rpc/transport.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace feedloop {

class GrpcServer;
class MemoryBudget;
class Telemetry;
class ThreadPool;

// How a server process listens and works; each server's Options extends it.
struct ServingOptions {
  // Address to serve on. Default: loopback, a port the OS picks.
  std::string listen = "127.0.0.1:0";
  // Request worker threads; 0 means one per core. Default: 0.
  int threads = 0;
  // Requests that may wait for a worker before RESOURCE_EXHAUSTED.
  // Default: 256 (a server's Options may set another).
  size_t max_queued_requests = 256;
  // The most the requests queued or being served may weigh, in bytes of
  // their messages, before RESOURCE_EXHAUSTED: four requests at the 64 MiB
  // message limit. Default: 256 MiB.
  size_t max_queued_bytes = size_t{256} << 20;
  // Plaintext or TLS, for serving and for the connections the server makes.
  // Default: plaintext.
  Transport transport;
  // Prometheus metrics; borrowed, must outlive the server. Default: none.
  Telemetry* telemetry = nullptr;
  // Closes client connections after this long so that clients re-resolve
  // and spread over replicas added since (GrpcServer::Options). Default:
  // never.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  // The memory the runs this server admits may reserve (config/cost.h);
  // shared by servers in one process. Default: null, a budget of the
  // server's own of MemoryBudget::DefaultLimit() (half the machine's or
  // the container's memory).
  std::shared_ptr<MemoryBudget> memory_budget;
};

class ServiceHost {
 public:
  explicit ServiceHost(const ServingOptions& options);
  // Stop().
  ~ServiceHost();

  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  // The requests' pool: `threads` workers, `max_queued_requests` waiting.
  ThreadPool* request_pool() { return request_pool_.get(); }
  // Work fanned out by requests (which take part in it, so its queue needs
  // no bound); made on first use, which must precede Serve.
  ThreadPool* compute_pool();
  // The runs' memory budget (ServingOptions::memory_budget).
  MemoryBudget* memory_budget() { return memory_budget_.get(); }

  // Binds, starts serving `services` (borrowed, must outlive Stop) and
  // reports SERVING. UNAVAILABLE when the address cannot be bound.
  absl::Status Serve(const std::vector<grpc::Service*>& services);

  // "host:port" once serving; "" before.
  std::string address() const;
  // Stops accepting calls, waiting up to `grace` for calls in flight.
  // Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  // Shuts down (1 s grace) if not yet, then destroys the server and drains
  // the pools: after it, nothing calls into the services. Idempotent.
  void Stop();

 private:
  const ServingOptions options_;
  std::unique_ptr<ThreadPool> request_pool_;
  std::unique_ptr<ThreadPool> compute_pool_;
  std::shared_ptr<MemoryBudget> memory_budget_;
  std::unique_ptr<GrpcServer> server_;
};

// The base of each server process class (stack/): its address and its
// shutdown, over the ServiceHost a derived Start() fills. A derived
// destructor calls host_->Stop() first, so that no call is in flight when
// its services and clients go.
class HostedServer {
 public:
  HostedServer(const HostedServer&) = delete;
  HostedServer& operator=(const HostedServer&) = delete;

  // "host:port", for clients.
  std::string address() const { return host_->address(); }
  // Stops serving, waiting up to `grace` for calls in flight.
  void Shutdown(absl::Duration grace = absl::Seconds(5)) {
    if (host_ != nullptr) host_->Shutdown(grace);
  }

 protected:
  HostedServer() = default;
  ~HostedServer() = default;

  std::unique_ptr<ServiceHost> host_;
};

}  // namespace feedloop

#endif  // FEEDLOOP_RPC_SERVICE_HOST_H_
