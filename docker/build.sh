#!/usr/bin/env bash
# Build the shardgate container image from nothing but this machine:
#   1. cargo build --release -p shardgate
#   2. docker/rootfs.sh assembles docker/rootfs: the binary, exactly the shared
#      libraries `ldd` lists plus the dynamic loader, /etc/passwd + /etc/group
#      with a non-root user, docker/shardgate.toml as
#      /etc/shardgate/shardgate.toml, and the host's CA bundle
#   3. docker build -f Dockerfile.local (FROM scratch) -> $IMAGE, then
#      `shardgate check` inside it.
# No base image is pulled, so this works without a registry. (docker/Dockerfile
# is the multi-stage build from source for machines that can pull images; its
# build stage runs the same rootfs.sh.)
#
# Environment: IMAGE (default shardgate:local), CARGO_TARGET_DIR (default
# <repo>/target), CARGO_PROFILE (default release).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
image=${IMAGE:-shardgate:local}
target_dir=${CARGO_TARGET_DIR:-$repo/target}
profile=${CARGO_PROFILE:-release}
rootfs=$here/rootfs

log() { printf '==> %s\n' "$*" >&2; }

log "cargo build --profile $profile -p shardgate (target dir $target_dir)"
(cd "$repo" && CARGO_TARGET_DIR=$target_dir cargo build --profile "$profile" -p shardgate)
bin=$target_dir/$profile/shardgate
[[ -x $bin ]] || { echo "no binary at $bin" >&2; exit 1; }

log "validating docker/shardgate.toml"
"$bin" check --config "$here/shardgate.toml"

"$here/rootfs.sh" "$bin" "$here/shardgate.toml" "$rootfs"

log "docker build -t $image"
docker build -t "$image" -f "$here/Dockerfile.local" "$here"

# The image must at least start its loader and read its config.
log "smoke test: shardgate check inside $image"
docker run --rm --network none "$image" check --config /etc/shardgate/shardgate.toml
docker image ls "$image"
