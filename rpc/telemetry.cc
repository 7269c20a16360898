#include "rpc/telemetry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace feedloop {
namespace {

using grpc::experimental::InterceptionHookPoints;

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
    // gRPC's codes are absl's, one to one.
    f_.requests
        ->Add({{"method", method_},
               {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}})
        .Increment();
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
        0.05,    0.1,    0.2,    0.5,    1,     2,     5,     10,   26};
    f_.duration->Add({{"method", method_}}, kBuckets).Observe(seconds);
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
  const size_t colon = listen.rfind(':');
  int port = -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535 ||
      inet_pton(AF_INET, listen.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics: listen address '", listen, "': expected IPv4:port, e.g. 127.0.0.1:9464"));
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::unique_ptr<Telemetry> t(new Telemetry());
  t->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(t->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof addr;
  if (t->listen_fd_ < 0 || bind(t->listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(t->listen_fd_, 16) != 0 ||
      getsockname(t->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot serve on ", listen, ": ", std::strerror(errno)));
  }
  t->address_ = absl::StrCat(listen.substr(0, colon), ":", ntohs(addr.sin_port));
  t->registry_ = std::make_shared<prometheus::Registry>();
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
  t->thread_ = std::thread([raw = t.get()] { raw->Serve(); });
  return t;
}

void Telemetry::Serve() {
  while (!stop_.load()) {
    pollfd p = {listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // wakes to check stop_
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // The request head, up to 8 KiB or 2 s.
    std::string request;
    char buf[2048];
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192 &&
           std::chrono::steady_clock::now() < give_up) {
      pollfd q = {fd, POLLIN, 0};
      if (poll(&q, 1, 200) <= 0) continue;
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string status = "404 Not Found", body = "not found: try /metrics\n";
    if (request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0) {
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, registry_->Collect());
      status = "200 OK";
      body = out.str();
    }
    const std::string response = absl::StrCat(
        "HTTP/1.1 ", status, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
        "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    for (size_t sent = 0; sent < response.size();) {
      const ssize_t n = send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    close(fd);
  }
}

Telemetry::~Telemetry() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Telemetry::InterceptorFactory() {
  return std::make_unique<RpcInterceptorFactory>(rpc_);
}

}  // namespace feedloop
