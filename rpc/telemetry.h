// Prometheus metrics of one process, served over HTTP at /metrics: the
// metrics are prometheus-cpp's (core, from Debian); the HTTP endpoint is
// our own small server on one thread, because prometheus-cpp's civetweb
// exporter crashed inside the feedloop binary (a SIGSEGV in its first
// thread). Every gRPC server given a Telemetry counts
// and times each call by method and status code, and tracks calls in
// flight:
//
//   feedloop_rpc_requests_total{method, code}   counter
//   feedloop_rpc_duration_seconds{method}       histogram, 50 us .. 26 s
//   feedloop_rpc_in_flight{method}              gauge
//
// Services add their own families to registry().
//
//   FEEDLOOP_ASSIGN_OR_RETURN(auto telemetry, Telemetry::Start("127.0.0.1:9464"));
//   server_options.telemetry = telemetry.get();     // GrpcServer::Options
//
// Thread-safe.

#ifndef FEEDLOOP_RPC_TELEMETRY_H_
#define FEEDLOOP_RPC_TELEMETRY_H_

#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace feedloop {

class Telemetry {
 public:
  // Serves /metrics on `listen` (HOST:PORT; port 0 lets the OS pick).
  // UNAVAILABLE when it cannot bind.
  static absl::StatusOr<std::unique_ptr<Telemetry>> Start(const std::string& listen);
  ~Telemetry();

  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // HOST:PORT that serves /metrics.
  std::string address() const { return address_; }
  prometheus::Registry& registry() { return *registry_; }

  // A new factory of interceptors that record into this Telemetry, for
  // grpc::ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();

  struct RpcFamilies {
    prometheus::Family<prometheus::Counter>* requests;
    prometheus::Family<prometheus::Histogram>* duration;
    prometheus::Family<prometheus::Gauge>* in_flight;
  };

 private:
  Telemetry() = default;
  // Answers GET /metrics until stop_; one connection at a time.
  void Serve();

  std::shared_ptr<prometheus::Registry> registry_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::string address_;
  RpcFamilies rpc_{};
};

}  // namespace feedloop

#endif  // FEEDLOOP_RPC_TELEMETRY_H_
