# Sourced by deploy/build-image and the deploy tests: points podman at a
# containers.conf that works as root on a machine without Docker or systemd
# (runc, cgroupfs; crun fails on such cgroups), with ulimits no higher than
# this machine's hard limits (runc fails on setrlimit otherwise). Written
# outside the repository, under FEEDLOOP_PODMAN_DIR.
FEEDLOOP_PODMAN_DIR=${FEEDLOOP_PODMAN_DIR:-/var/tmp/feedloop-podman}
mkdir -p "$FEEDLOOP_PODMAN_DIR"
_fl_nofile=$(ulimit -Hn)
_fl_nproc=$(ulimit -Hu)
[ "$_fl_nofile" = unlimited ] && _fl_nofile=1048576
if [ "$_fl_nproc" = unlimited ] || [ "$_fl_nproc" -gt 32768 ]; then
  _fl_nproc=32768
fi
cat > "$FEEDLOOP_PODMAN_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${_fl_nofile}:${_fl_nofile}", "nproc=${_fl_nproc}:${_fl_nproc}"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$FEEDLOOP_PODMAN_DIR/containers.conf"
unset _fl_nofile _fl_nproc
