// TLS and mutual TLS on a real server (the store), with certificates made
// by openssl for this test: who is refused, who gets through, and what a
// bad certificate file says.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "rpc/server.h"
#include "rpc/transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "loadtest/load_test.h"
#include "loadtest/prepare.h"
#include "stack/store_server.h"
#include "testing/status_matchers.h"
#include "rpc/grpc_status.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/tls_", getpid()));
    std::filesystem::remove_all(*dir_);
    std::filesystem::create_directories(*dir_);
    // A CA, a server certificate for 127.0.0.1 and a client certificate
    // signed by it, and a second CA that signs an impostor client.
    const std::string script = absl::StrCat(
        "set -e; cd ", *dir_, "; exec >/dev/null 2>&1\n",
        "for ca in ca other; do openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
        "-subj /CN=$ca -keyout $ca.key -out $ca.pem; done\n",
        "mk() { openssl req -newkey rsa:2048 -nodes -subj /CN=$1 -keyout $1.key -out $1.csr;"
        " printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > $1.ext;"
        " openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -days 2"
        " -extfile $1.ext -out $1.pem; }\n",
        "mk server ca; mk client ca; mk impostor other\n",
        "echo 'not a certificate' > junk.pem\n");
    ASSERT_EQ(std::system(script.c_str()), 0) << "openssl failed in " << *dir_;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  std::unique_ptr<stack::StoreServer> Serve(bool mutual) {
    TlsFiles files;
    files.cert = Path("server.pem");
    files.key = Path("server.key");
    files.ca = Path("ca.pem");
    files.require_client_cert = mutual;
    auto transport = Transport::Tls(files);
    EXPECT_OK(transport.status());
    stack::StoreServer::Options options;
    options.data_dir = Path(mutual ? "data_mtls" : "data_tls");
    options.transport = *transport;
    auto server = stack::StoreServer::Start(options);
    EXPECT_OK(server.status());
    return server.ok() ? *std::move(server) : nullptr;
  }

  // DiversityService.ListRuns through a client with these files; "" leaves a file out.
  absl::Status Call(const std::string& address, const std::string& ca,
                    const std::string& cert, const std::string& key) {
    Transport transport;
    if (!ca.empty() || !cert.empty()) {
      TlsFiles files;
      files.ca = ca.empty() ? "" : Path(ca);
      files.cert = cert.empty() ? "" : Path(cert);
      files.key = key.empty() ? "" : Path(key);
      auto t = Transport::Tls(files);
      if (!t.ok()) return t.status();
      transport = *t;
    }
    // Fail fast (no wait_for_ready): a refused handshake is UNAVAILABLE.
    auto stub = v1::DiversityService::NewStub(CreateChannel(address, transport));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ListRunsRequest request;
    v1::ListRunsResponse response;
    return FromGrpcStatus(stub->ListRuns(&ctx, request, &response));
  }

  static std::string* dir_;
};
std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, ServerTlsRefusesClientsThatCannotVerifyIt) {
  auto server = Serve(/*mutual=*/false);
  ASSERT_NE(server, nullptr);
  const std::string addr = server->address();
  EXPECT_OK(Call(addr, "ca.pem", "", ""));
  // Plaintext, and TLS trusting another CA (or the system's roots): refused.
  EXPECT_THAT(Call(addr, "", "", ""), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Call(addr, "other.pem", "", ""), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificateFromTheCa) {
  auto server = Serve(/*mutual=*/true);
  ASSERT_NE(server, nullptr);
  const std::string addr = server->address();
  EXPECT_OK(Call(addr, "ca.pem", "client.pem", "client.key"));
  EXPECT_THAT(Call(addr, "ca.pem", "", ""), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Call(addr, "ca.pem", "impostor.pem", "impostor.key"),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TlsTest, UnreadableFilesAreNamed) {
  TlsFiles files;
  files.cert = Path("missing.pem");
  files.key = Path("server.key");
  EXPECT_THAT(Transport::Tls(files).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot read the certificate file '" + Path("missing.pem"))));
  files.cert = Path("junk.pem");
  EXPECT_THAT(Transport::Tls(files).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not PEM")));
  files.cert = Path("server.pem");
  files.key = "";
  EXPECT_THAT(Transport::Tls(files).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give both")));
  files = {};
  files.require_client_cert = true;
  EXPECT_THAT(Transport::Tls(files).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CA")));
  // A client-only transport cannot serve.
  files = {};
  files.ca = Path("ca.pem");
  auto client_only = Transport::Tls(files);
  ASSERT_OK(client_only.status());
  GrpcServer::Options options;
  options.transport = *client_only;
  EXPECT_THAT(GrpcServer::Start(options, {}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_cert")));
}

TEST_F(TlsTest, LoadTesterSpeaksTls) {
  auto server = Serve(/*mutual=*/false);
  ASSERT_NE(server, nullptr);
  TlsFiles files;
  files.ca = Path("ca.pem");
  ASSERT_OK_AND_ASSIGN(Transport tls, Transport::Tls(files));
  loadtest::PrepareOptions prepare;
  prepare.store = server->address();
  prepare.run_id = "lt-tls";
  prepare.items = 10;
  prepare.dim = 16;
  prepare.transport = tls;
  ASSERT_OK(loadtest::PrepareRun(prepare));

  loadtest::LoadTest::Options o;
  o.target = server->address();
  o.rpc = loadtest::Rpc::kIngest;
  o.run_id = "lt-tls";
  o.dim = 16;
  o.batch = 8;
  o.concurrency = 2;
  o.connections = 1;
  o.warmup = absl::ZeroDuration();
  o.duration = absl::Milliseconds(300);
  o.transport = tls;
  ASSERT_OK_AND_ASSIGN(auto result, loadtest::LoadTest::Run(o));
  EXPECT_GT(result.measured_requests, 0u);
  EXPECT_EQ(result.codes["OK"], result.measured_requests);
  o.transport = Transport();  // plaintext against a TLS server
  EXPECT_THAT(loadtest::LoadTest::Run(o).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot connect")));
}

}  // namespace
}  // namespace feedloop
