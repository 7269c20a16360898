#include "testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace feedloop::testing {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child must not inherit blocked signals from a test that blocked
  // them, or SIGTERM would not reach its handler.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return absl::InternalError(
        absl::StrCat("spawn ", argv[0], ": ", std::strerror(rc)));
  }
  return std::unique_ptr<Subprocess>(new Subprocess(pid, fds[0]));
}

Subprocess::~Subprocess() {
  if (!reaped_) {
    Kill(SIGKILL);
    Wait();
  }
  close(stdout_fd_);
}

absl::StatusOr<bool> Subprocess::ReadMore(absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("child's output did not come in time");
    }
    pollfd p = {stdout_fd_, POLLIN, 0};
    const int ready =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (ready <= 0) continue;
    char chunk[65536];
    const ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
    if (n == 0) return false;
    if (n > 0) {
      buffer_.append(chunk, n);
      return true;
    }
  }
}

absl::StatusOr<std::string> Subprocess::ReadLineContaining(
    const std::string& needle, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    size_t newline;
    while ((newline = buffer_.find('\n')) != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
    absl::StatusOr<bool> more = ReadMore(deadline);
    if (!more.ok()) {
      return absl::Status(more.status().code(),
                          absl::StrCat("no line containing '", needle, "': ",
                                       more.status().message()));
    }
    if (!*more) {
      return absl::UnavailableError(
          absl::StrCat("child exited before printing '", needle, "'"));
    }
  }
}

absl::StatusOr<std::string> Subprocess::ReadAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<bool> more = ReadMore(deadline);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return std::exchange(buffer_, {});
}

absl::StatusOr<std::string> Subprocess::WaitForListeningAddress(
    absl::Duration timeout) {
  constexpr char kMarker[] = "listening on ";
  auto line = ReadLineContaining(kMarker, timeout);
  if (!line.ok()) return line.status();
  std::string address = line->substr(line->find(kMarker) + sizeof kMarker - 1);
  const size_t space = address.find(' ');
  if (space != std::string::npos) address.resize(space);
  return address;
}

void Subprocess::Kill(int signal_number) {
  if (!reaped_) kill(pid_, signal_number);
}

int Subprocess::Wait() {
  if (reaped_) return 0;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  return status;
}

}  // namespace feedloop::testing
