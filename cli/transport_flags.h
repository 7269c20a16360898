// TransportFromFlags: plaintext, or TLS from the --tls_cert, --tls_key,
// --tls_ca and --tls_require_client_cert flags that linking
// feedloop_transport_flags defines.

#ifndef FEEDLOOP_CLI_TRANSPORT_FLAGS_H_
#define FEEDLOOP_CLI_TRANSPORT_FLAGS_H_

#include "absl/status/statusor.h"
#include "rpc/transport.h"

namespace feedloop::cli {

// INVALID_ARGUMENT naming the file that cannot be read or is not PEM.
absl::StatusOr<Transport> TransportFromFlags();

}  // namespace feedloop::cli

#endif  // FEEDLOOP_CLI_TRANSPORT_FLAGS_H_
