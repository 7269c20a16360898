#!/usr/bin/env bash
# The image: each service runs in it as a non-root user and passes its
# grpc.health.v1 check from inside the container and from the host; the
# services find each other by name; SIGTERM stops each with exit code 0;
# the runtime image has no compiler.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/tests/lib.sh

tag=fl-image-$$
net=$tag-net
cleanup() {
  podman rm -f -v -t 0 "$tag-store" "$tag-ranker" "$tag-generator" "$tag-loop" >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
podman network create "$net" >/dev/null

start() {  # start NAME PORT ARGS...
  local name=$1 port=$2; shift 2
  podman run -d --name "$tag-$name" --network "$net" --network-alias "$name" \
    -p "127.0.0.1::$port" "$IMAGE" serve "$name" --listen "0.0.0.0:$port" \
    --metrics_listen 0.0.0.0:9464 "$@" >/dev/null
}
start store 7001 --data_dir /var/lib/feedloop
start ranker 7002 --store store:7001
start generator 7003 --ranker ranker:7002
start loop 7004 --store store:7001 --ranker ranker:7002 --generator generator:7003

declare -A port=([store]=7001 [ranker]=7002 [generator]=7003 [loop]=7004)
for name in store ranker generator loop; do
  c=$tag-$name
  step "$name: health inside the container"
  until_ok 30 podman exec "$c" feedloop health "127.0.0.1:${port[$name]}" ||
    { podman logs "$c" | tail -20; fail "$name never became SERVING"; }
  step "$name: health from the host through the published port"
  host_port=$(podman port "$c" "${port[$name]}" | head -1 | sed 's/.*://')
  out=$("$FEEDLOOP" health "127.0.0.1:$host_port")
  [ "$out" = SERVING ] || fail "$name from the host: '$out'"
  step "$name: runs as uid 10001"
  [ "$(podman exec "$c" id -u)" = 10001 ] || fail "$name runs as $(podman exec "$c" id -u)"
done

step "the loop reaches the others by name: its metrics endpoint answers, and the ranker sees the store"
podman exec "$tag-loop" feedloop health store:7001 | grep -qx SERVING || fail "loop cannot reach store:7001"
podman exec "$tag-generator" feedloop health ranker:7002 | grep -qx SERVING || fail "generator cannot reach ranker:7002"

step "no compiler in the runtime image"
if podman run --rm --entrypoint /bin/sh "$IMAGE" -c 'command -v g++ || command -v cc'; then
  fail "the runtime image has a compiler"
fi

step "SIGTERM: each service exits 0"
for name in loop generator ranker store; do
  podman stop -t 10 "$tag-$name" >/dev/null
  code=$(podman inspect --format '{{.State.ExitCode}}' "$tag-$name")
  [ "$code" = 0 ] || fail "$name exited $code on SIGTERM"
done
echo "image: $IMAGE, $(( $(podman image inspect --format '{{.Size}}' "$IMAGE") / 1024 / 1024 )) MiB"
echo PASS
