#include "rpc/transport.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace feedloop {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls: cannot read the ", what, " file '", path, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls: the ", what, " file '", path, "' is not PEM"));
  }
  return text.str();
}

}  // namespace

Transport::Transport() = default;

absl::StatusOr<Transport> Transport::Tls(const TlsFiles& files) {
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        "tls: a certificate and its key go together: give both or neither");
  }
  if (files.require_client_cert && files.ca.empty()) {
    return absl::InvalidArgumentError(
        "tls: requiring client certificates needs the CA that signs them");
  }
  Transport t;
  t.secure_ = true;
  t.require_client_cert_ = files.require_client_cert;
  if (!files.cert.empty()) {
    auto cert = ReadPem(files.cert, "certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(files.key, "key");
    if (!key.ok()) return key.status();
    t.cert_ = *std::move(cert);
    t.key_ = *std::move(key);
  }
  if (!files.ca.empty()) {
    auto ca = ReadPem(files.ca, "CA");
    if (!ca.ok()) return ca.status();
    t.ca_ = *std::move(ca);
  }
  return t;
}

std::shared_ptr<grpc::ServerCredentials> Transport::ServerCredentials() const {
  if (!secure_) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      ca_.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
      : require_client_cert_
          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
          : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca_;
  options.pem_key_cert_pairs.push_back({key_, cert_});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> Transport::ChannelCredentials() const {
  if (!secure_) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_;
  options.pem_private_key = key_;
  options.pem_cert_chain = cert_;
  return grpc::SslCredentials(options);
}

}  // namespace feedloop
