// --tls_* flags, shared by `feedloop serve` (its server and the connections
// it makes), `feedloop run`, `query` and `health` (the connections they
// make), and feedloop-loadtest.

#include <string>

#include "absl/flags/flag.h"
#include "cli/transport_flags.h"

ABSL_FLAG(std::string, tls_cert, "",
          "TLS: this process's certificate (PEM); with --tls_key, serve over TLS "
          "and present it to servers that ask");
ABSL_FLAG(std::string, tls_key, "", "TLS: the private key of --tls_cert (PEM)");
ABSL_FLAG(std::string, tls_ca, "",
          "TLS: the CA (PEM) that signs the peers' certificates; a client verifies "
          "servers with it, a server verifies client certificates");
ABSL_FLAG(bool, tls_require_client_cert, false,
          "TLS: a server refuses clients without a certificate signed by --tls_ca "
          "(mutual TLS)");

namespace feedloop::cli {

absl::StatusOr<Transport> TransportFromFlags() {
  TlsFiles files;
  files.cert = absl::GetFlag(FLAGS_tls_cert);
  files.key = absl::GetFlag(FLAGS_tls_key);
  files.ca = absl::GetFlag(FLAGS_tls_ca);
  files.require_client_cert = absl::GetFlag(FLAGS_tls_require_client_cert);
  if (files.empty() && !files.require_client_cert) return Transport();
  return Transport::Tls(files);
}

}  // namespace feedloop::cli
