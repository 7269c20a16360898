#include "stack/store_server.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "query/diversity_service.h"
#include "store/item_store.h"
#include "store/store_service.h"

namespace feedloop::stack {

StoreServer::StoreServer() = default;

absl::StatusOr<std::unique_ptr<StoreServer>> StoreServer::Start(
    const Options& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("--data_dir is required");
  }
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store: cannot create --data_dir ", options.data_dir, ": ",
        error.message()));
  }
  std::unique_ptr<StoreServer> s(new StoreServer());
  store::ItemStore::Options store_options;
  store_options.path = options.data_dir;
  store_options.sync = options.sync;
  FEEDLOOP_ASSIGN_OR_RETURN(s->store_, store::ItemStore::Open(store_options));
  s->host_ = std::make_unique<ServiceHost>(options);
  s->ingest_ = std::make_unique<store::IngestServiceImpl>(
      s->store_.get(), s->host_->request_pool(), s->host_->memory_budget());
  s->diversity_ = std::make_unique<query::DiversityServiceImpl>(
      s->store_.get(), s->host_->request_pool());
  FEEDLOOP_RETURN_IF_ERROR(
      s->host_->Serve({s->ingest_.get(), s->diversity_.get()}));
  return s;
}

StoreServer::~StoreServer() {
  // Calls in flight hold pointers into the services and the store: stop
  // the server and drain the pool first; the store closes last.
  if (host_ != nullptr) host_->Stop();
}

}  // namespace feedloop::stack
