// A started gRPC server with feedloop's common parts: grpc.health.v1,
// server reflection, bounded message sizes, loopback by default.
//
//   GrpcServer::Options options;
//   options.listen = "127.0.0.1:0";            // the OS picks the port
//   FEEDLOOP_ASSIGN_OR_RETURN(auto server,
//       GrpcServer::Start(options, {&ingest_service, &diversity_service}));
//   LOG(INFO) << "listening on " << server->address();
//   server->SetServing(true);
//   WaitForShutdownSignal();
//   server->Shutdown();
//
// Thread-safe.

#ifndef FEEDLOOP_RPC_SERVER_H_
#define FEEDLOOP_RPC_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/telemetry.h"
#include "rpc/transport.h"
#include "grpcpp/grpcpp.h"

namespace feedloop {

class GrpcServer {
 public:
  struct Options {
    // host:port to bind. Port 0 lets the OS pick. Default: loopback only.
    std::string listen = "127.0.0.1:0";
    // Largest request or response message. Default: 64 MiB.
    int max_message_bytes = 64 << 20;
    // Plaintext or TLS (rpc/transport.h). Default: plaintext.
    Transport transport;
    // Counts and times every call when set; borrowed, must outlive the
    // server. Default: none.
    Telemetry* telemetry = nullptr;
    // Closes each client connection after this long (GOAWAY; calls in
    // flight get 30 min to finish), so clients re-resolve the name and
    // reach replicas added since. Default: never.
    absl::Duration max_connection_age = absl::InfiniteDuration();
  };

  // Binds and starts serving `services` (borrowed; they must outlive the
  // server). Health reports NOT_SERVING until SetServing(true).
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const Options& options, const std::vector<grpc::Service*>& services);

  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound port, and "host:port" with it, for clients.
  int port() const { return port_; }
  std::string address() const;

  // Sets the overall health status ("") and each service's.
  void SetServing(bool serving);
  void SetServing(const std::string& service_name, bool serving);

  // Stops accepting calls and waits up to `grace` for calls in flight; then
  // cancels the rest. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  GrpcServer(std::unique_ptr<grpc::Server> server, std::string host, int port);

  // Constant after construction.
  std::unique_ptr<grpc::Server> server_;
  const std::string host_;
  const int port_;
  std::atomic<bool> shut_down_{false};
};

// Blocks SIGINT and SIGTERM in the calling thread and every thread it
// starts later. Call first thing in main, before any thread exists.
void BlockShutdownSignals();
// Waits for SIGINT or SIGTERM (blocked with BlockShutdownSignals) and
// returns its number.
int WaitForShutdownSignal();

// A client channel to `address` with feedloop's message-size bounds, over
// `transport` (plaintext by default). Round-robin per call over every
// address `address` resolves to ("ranker:7002" of several replicas, or
// "ipv4:127.0.0.1:7002,127.0.0.1:7012").
std::shared_ptr<grpc::Channel> CreateChannel(const std::string& address,
                                             const Transport& transport = Transport(),
                                             int max_message_bytes = 64 << 20);

}  // namespace feedloop

#endif  // FEEDLOOP_RPC_SERVER_H_
