#!/usr/bin/env bash
# deploy/compose.yaml with podman-compose: the stack comes up healthy, a
# small experiment runs through its loop service from the host, its
# metrics read back over RPC from the host, Prometheus scrapes all four
# services, and the store's data survives a restart of its container.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/tests/lib.sh

project=fltest$$
work=$(mktemp -d "${TMPDIR:-/tmp}/feedloop-compose.XXXXXX")
export FEEDLOOP_IMAGE=$IMAGE FEEDLOOP_PROMETHEUS_IMAGE=$PROMETHEUS_IMAGE
export FEEDLOOP_STORE_PORT=$(free_port) FEEDLOOP_RANKER_PORT=$(free_port)
export FEEDLOOP_GENERATOR_PORT=$(free_port) FEEDLOOP_LOOP_PORT=$(free_port)
export FEEDLOOP_PROMETHEUS_PORT=$(free_port)
compose() { podman-compose -p "$project" -f deploy/compose.yaml "$@"; }
cleanup() {
  compose down -v >/dev/null 2>&1 || true
  podman volume rm -f "${project}_store-data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
STORE=127.0.0.1:$FEEDLOOP_STORE_PORT
LOOP=127.0.0.1:$FEEDLOOP_LOOP_PORT
PROM=http://127.0.0.1:$FEEDLOOP_PROMETHEUS_PORT

step "up"
compose up -d >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "podman-compose up"; }
for port in $FEEDLOOP_STORE_PORT $FEEDLOOP_RANKER_PORT $FEEDLOOP_GENERATOR_PORT $FEEDLOOP_LOOP_PORT; do
  until_ok 60 "$FEEDLOOP" health "127.0.0.1:$port" ||
    { compose logs 2>&1 | tail -40; fail "nothing SERVING on 127.0.0.1:$port"; }
done
step "the compose health checks pass"
for svc in store ranker generator loop; do
  until_ok 30 podman healthcheck run "${project}_${svc}_1" ||
    fail "$svc: podman healthcheck run failed"
done

step "published on the host's loopback only"
for svc in store ranker generator loop prometheus; do
  podman port "${project}_${svc}_1" | grep -v '^[0-9]*/tcp -> 127\.0\.0\.1:' &&
    fail "$svc publishes beyond 127.0.0.1"
done

step "a small experiment through the loop service"
cat > "$work/small.pbtxt" <<'CONF'
name: "compose" seed: 5 rounds: 4
space { dim: 16 topics: 6 }
users { count: 300 }
creators { count: 20 items_per_round: 5 }
generator { alpha: 0.5 reward_users: 64 }
ranker { index: FLAT candidates: 40 item_ttl_rounds: 3 }
CONF
"$FEEDLOOP" run --loop "$LOOP" --store "$STORE" --config "$work/small.pbtxt" \
  -o "$work/runs" >"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "feedloop run --loop"; }
run_id=$(sed -n 's/^experiment \([^:]*\):.*/\1/p' "$work/run.log")
[ -n "$run_id" ] || { cat "$work/run.log"; fail "no run id in the output"; }
[ -s "$work/runs/$run_id/metrics.csv" ] || fail "no metrics.csv for $run_id"
[ -s "$work/runs/$run_id/report.html" ] || fail "no report.html for $run_id"

step "its metrics over RPC from the host"
"$FEEDLOOP" query runs --addr "$STORE" --format csv >"$work/runs.csv"
grep -q "^$run_id,.*,DONE,4/4," "$work/runs.csv" || { cat "$work/runs.csv"; fail "$run_id not DONE with 4 rounds"; }
"$FEEDLOOP" query series "$run_id" --addr "$STORE" --format csv >"$work/series-before.csv"
rows=$(grep -c "^$run_id," "$work/series-before.csv" || true)
[ "$rows" -ge 40 ] || fail "only $rows metric values for $run_id"

step "Prometheus scrapes the four services"
# prom QUERY: the first value of an instant query, as an integer (0 if none).
prom() {
  curl -sf "$PROM/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)'
}
all_up() { [ "$(prom 'sum(up{job="feedloop"})')" = 4 ]; }
until_ok 60 all_up || fail "Prometheus sees $(prom 'sum(up{job="feedloop"})') of 4 targets up"
all_rounds() { [ "$(prom "feedloop_run_rounds_done{run=\"$run_id\"}")" = 4 ]; }
until_ok 30 all_rounds ||
  fail "Prometheus: feedloop_run_rounds_done is $(prom "feedloop_run_rounds_done{run=\"$run_id\"}"), not 4"

step "the store's data survives a restart of its container"
podman restart "${project}_store_1" >/dev/null
# same_series WHAT: the store answers and has the run's series unchanged.
same_series() {
  until_ok 60 "$FEEDLOOP" health "$STORE" || fail "the store did not come back ($1)"
  "$FEEDLOOP" query series "$run_id" --addr "$STORE" --format csv >"$work/series-now.csv" ||
    fail "$run_id is not in the store ($1)"
  cmp -s "$work/series-before.csv" "$work/series-now.csv" ||
    fail "the series of $run_id changed ($1)"
}
same_series "restarted container"

step "and new containers on the same volume (down, up)"
compose down >"$work/down.log" 2>&1 || { cat "$work/down.log"; fail "podman-compose down"; }
[ -z "$(podman ps -a --filter "name=${project}_" -q)" ] || fail "containers left after down"
compose up -d >"$work/up2.log" 2>&1 || { cat "$work/up2.log"; fail "podman-compose up (again)"; }
same_series "new containers"

step "down -v"
compose down -v >"$work/down.log" 2>&1 || { cat "$work/down.log"; fail "podman-compose down -v"; }
[ -z "$(podman ps -a --filter "name=${project}_" -q)" ] || fail "containers left after down"
if podman volume exists "${project}_store-data"; then fail "down -v left the store's volume"; fi
echo PASS
