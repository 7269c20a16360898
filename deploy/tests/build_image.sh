#!/usr/bin/env bash
# Fixture of the deploy tests: the feedloop and Prometheus images, built
# with podman from deploy/Containerfile and deploy/prometheus/Containerfile.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/tests/lib.sh
deploy/build-image "$IMAGE"
podman build --quiet -f deploy/prometheus/Containerfile \
  --build-arg BASE=localhost/bookworm-base -t "$PROMETHEUS_IMAGE" deploy/prometheus >/dev/null
echo "prometheus image: $PROMETHEUS_IMAGE," \
  "$(( $(podman image inspect --format '{{.Size}}' "$PROMETHEUS_IMAGE") / 1024 / 1024 )) MiB"
