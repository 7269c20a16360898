// How a process's servers listen and its clients connect: plaintext (the
// default, for loopback) or TLS, optionally mutual. Built once in main from
// flags and handed to every server and channel the process makes.
//
//   TlsFiles files;
//   files.cert = "server.pem"; files.key = "server.key"; files.ca = "ca.pem";
//   files.require_client_cert = true;             // mutual TLS
//   FEEDLOOP_ASSIGN_OR_RETURN(Transport transport, Transport::Tls(files));
//   options.transport = transport;                // GrpcServer::Options
//   auto channel = CreateChannel(address, transport);
//
// Copyable; thread-safe.

#ifndef FEEDLOOP_RPC_TRANSPORT_H_
#define FEEDLOOP_RPC_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace feedloop {

// PEM files. A server needs cert and key; with ca it verifies client
// certificates against it, and requires one when require_client_cert. A
// client needs ca to verify the server (the system roots otherwise), and
// cert and key to present its own certificate.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
  bool require_client_cert = false;

  bool empty() const { return cert.empty() && key.empty() && ca.empty(); }
};

class Transport {
 public:
  // Plaintext.
  Transport();

  // Reads the files now: INVALID_ARGUMENT naming the file that cannot be
  // read or is not PEM, or a certificate given without its key.
  static absl::StatusOr<Transport> Tls(const TlsFiles& files);

  bool secure() const { return secure_; }
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;
  // Servers need a certificate; a client-only transport has none.
  bool can_serve() const { return !secure_ || !cert_.empty(); }

 private:
  bool secure_ = false;
  bool require_client_cert_ = false;
  std::string cert_, key_, ca_;  // PEM text
};

}  // namespace feedloop

#endif  // FEEDLOOP_RPC_TRANSPORT_H_
