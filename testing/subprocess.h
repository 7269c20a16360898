// A child process for multi-process tests: started with its stdout on a
// pipe, so a test can wait for a server's "listening on HOST:PORT" line, and
// killed or waited for. Test-only.
//
//   ASSERT_OK_AND_ASSIGN(auto child, Subprocess::Start({binary, "serve", ...}));
//   ASSERT_OK_AND_ASSIGN(std::string line,
//                        child->ReadLineContaining("listening on", absl::Seconds(20)));
//   child->Kill(SIGKILL);

#ifndef FEEDLOOP_TESTING_SUBPROCESS_H_
#define FEEDLOOP_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace feedloop::testing {

class Subprocess {
 public:
  // Starts argv[0] (a path) with the given arguments. The child's stderr is
  // inherited, so its logs show in the test's output.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv);
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Reads the child's stdout until a line containing `needle`, and returns
  // it. DEADLINE_EXCEEDED after `timeout`; UNAVAILABLE if the child closes
  // its stdout first.
  absl::StatusOr<std::string> ReadLineContaining(const std::string& needle,
                                                 absl::Duration timeout);
  // Reads the child's stdout to its end (the child closed it or exited).
  // DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<std::string> ReadAll(absl::Duration timeout);
  // The address after "listening on " in the child's stdout.
  absl::StatusOr<std::string> WaitForListeningAddress(
      absl::Duration timeout = absl::Seconds(30));

  void Kill(int signal_number);
  // Waits for the child to exit and returns its wait status.
  int Wait();
  pid_t pid() const { return pid_; }

 private:
  Subprocess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  // Appends what the child wrote to buffer_; false at end of file.
  absl::StatusOr<bool> ReadMore(absl::Time deadline);

  pid_t pid_;
  int stdout_fd_;
  bool reaped_ = false;
  std::string buffer_;
};

}  // namespace feedloop::testing

#endif  // FEEDLOOP_TESTING_SUBPROCESS_H_
