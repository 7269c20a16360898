#include "common/telemetry.h"

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"

namespace feedloop {
namespace {

using grpc::experimental::InterceptionHookPoints;

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",          "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",   "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",        "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// One per call: starts the clock when the call's metadata arrives, records
// when its status is sent (or, for a call that ends without one, when it
// is destroyed).
class RpcInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(const Telemetry::RpcFamilies& f, const char* method)
      : f_(f), method_(method == nullptr ? "unknown" : method) {}
  ~RpcInterceptor() override {
    if (started_ && !finished_) Finish(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA) &&
        !started_) {
      started_ = true;
      start_ = std::chrono::steady_clock::now();
      f_.in_flight->Add({{"method", method_}}).Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        started_ && !finished_) {
      Finish(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Finish(grpc::StatusCode code) {
    finished_ = true;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    f_.requests->Add({{"method", method_}, {"code", CodeName(code)}}).Increment();
    f_.duration
        ->Add({{"method", method_}},
              prometheus::Histogram::BucketBoundaries{
                  0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                  0.05,    0.1,    0.2,    0.5,    1,     2,     5,     10,   26})
        .Observe(seconds);
    f_.in_flight->Add({{"method", method_}}).Decrement();
  }

  const Telemetry::RpcFamilies& f_;
  const std::string method_;
  bool started_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

class RpcInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcInterceptorFactory(const Telemetry::RpcFamilies& f) : f_(f) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcInterceptor(f_, info->method());
  }

 private:
  const Telemetry::RpcFamilies& f_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Telemetry>> Telemetry::Start(const std::string& listen) {
  std::unique_ptr<Telemetry> t(new Telemetry());
  t->registry_ = std::make_shared<prometheus::Registry>();
  try {
    t->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot serve on ", listen, ": ", e.what()));
  }
  const std::vector<int> ports = t->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot serve on ", listen));
  }
  const size_t colon = listen.rfind(':');
  t->address_ = absl::StrCat(colon == std::string::npos ? "127.0.0.1" : listen.substr(0, colon),
                             ":", ports[0]);
  t->exposer_->RegisterCollectable(t->registry_);
  t->rpc_.requests = &prometheus::BuildCounter()
                          .Name("feedloop_rpc_requests_total")
                          .Help("RPCs served, by method and status code")
                          .Register(*t->registry_);
  t->rpc_.duration = &prometheus::BuildHistogram()
                          .Name("feedloop_rpc_duration_seconds")
                          .Help("Time from a call's arrival to its status, by method")
                          .Register(*t->registry_);
  t->rpc_.in_flight = &prometheus::BuildGauge()
                           .Name("feedloop_rpc_in_flight")
                           .Help("Calls being served, by method")
                           .Register(*t->registry_);
  return t;
}

Telemetry::~Telemetry() = default;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Telemetry::InterceptorFactory() {
  return std::make_unique<RpcInterceptorFactory>(rpc_);
}

}  // namespace feedloop
