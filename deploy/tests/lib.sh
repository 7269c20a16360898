# Shared by the deploy tests: podman set up (deploy/podman/env.sh), the
# image under test, and small helpers. Sourced from the repository root.
# podman is set up for root here (deploy/podman/env.sh); elsewhere these
# tests are skipped (ctest's SKIP_RETURN_CODE), not failed.
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the deploy tests run podman as root; run ./dev test as root" >&2
  exit 77
fi
source deploy/podman/env.sh
IMAGE=${FEEDLOOP_TEST_IMAGE:-localhost/feedloop:test}
PROMETHEUS_IMAGE=${FEEDLOOP_TEST_PROMETHEUS_IMAGE:-localhost/feedloop-prometheus:test}
FEEDLOOP=${FEEDLOOP_BINARY:?FEEDLOOP_BINARY: the host-built feedloop}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# A TCP port nothing listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# until_ok SECONDS COMMAND...: retries COMMAND every half second.
until_ok() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      "$@" || true
      return 1
    fi
    sleep 0.5
  done
}
