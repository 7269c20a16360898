#include "store/store_server.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace feedloop::store {

absl::StatusOr<std::unique_ptr<StoreServer>> StoreServer::Start(
    const Options& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("store: --data_dir is required");
  }
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store: cannot create --data_dir ", options.data_dir, ": ",
        error.message()));
  }
  std::unique_ptr<StoreServer> s(new StoreServer());
  ItemStore::Options store_options;
  store_options.path = options.data_dir;
  store_options.sync = options.sync;
  FEEDLOOP_ASSIGN_OR_RETURN(s->store_, ItemStore::Open(store_options));
  s->pool_ = std::make_unique<ThreadPool>(
      options.threads > 0 ? options.threads : DefaultThreadCount(),
      options.max_queued_requests);
  s->ingest_ = std::make_unique<IngestServiceImpl>(s->store_.get(),
                                                   s->pool_.get());
  s->diversity_ = std::make_unique<DiversityServiceImpl>(s->store_.get(),
                                                         s->pool_.get());
  GrpcServer::Options server_options;
  server_options.listen = options.listen;
  server_options.transport = options.transport;
  server_options.telemetry = options.telemetry;
  FEEDLOOP_ASSIGN_OR_RETURN(
      s->server_,
      GrpcServer::Start(server_options, {s->ingest_.get(), s->diversity_.get()}));
  s->server_->SetServing(true);
  return s;
}

void StoreServer::Shutdown(absl::Duration grace) {
  if (server_ != nullptr) server_->Shutdown(grace);
}

StoreServer::~StoreServer() {
  // Calls in flight hold pointers into the services and the store: stop
  // the server first, then drain the pool, then close the database.
  Shutdown(absl::Seconds(1));
  server_.reset();
  pool_.reset();
}

}  // namespace feedloop::store
