#!/usr/bin/env bash
# Build the shardgate container image from nothing but this machine:
#   1. cargo build --release -p shardgate
#   2. assemble docker/rootfs: the binary, exactly the shared libraries `ldd`
#      lists plus the dynamic loader, /etc/passwd + /etc/group with a non-root
#      user, and docker/shardgate.toml as /etc/shardgate/shardgate.toml
#   3. docker build (FROM scratch) -> $IMAGE, then `shardgate check` inside it.
# No base image is pulled, so this works without a registry.
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
uid=10001
gid=10001

log() { printf '==> %s\n' "$*" >&2; }

log "cargo build --profile $profile -p shardgate (target dir $target_dir)"
(cd "$repo" && CARGO_TARGET_DIR=$target_dir cargo build --profile "$profile" -p shardgate)
bin=$target_dir/$profile/shardgate
[[ -x $bin ]] || { echo "no binary at $bin" >&2; exit 1; }

log "validating docker/shardgate.toml"
"$bin" check --config "$here/shardgate.toml"

log "assembling $rootfs"
rm -rf "$rootfs"
install -d -m 0755 "$rootfs"/usr/local/bin "$rootfs"/etc/shardgate
# Debug info is 2/3 of the file; symbols stay so perf and backtraces keep names.
objcopy --strip-debug "$bin" "$rootfs/usr/local/bin/shardgate"
chmod 0755 "$rootfs/usr/local/bin/shardgate"

# Exactly what the dynamic linker will load: every "name => /path" line plus the
# loader's own absolute-path line; linux-vdso is in the kernel, not a file.
ldd_out=$(ldd "$bin")
if grep -q 'not found' <<<"$ldd_out"; then
    echo "ldd: unresolved libraries:" >&2
    echo "$ldd_out" >&2
    exit 1
fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[[ " ${libs[*]} " == *" $interp "* ]] || { echo "loader $interp missing from ldd output" >&2; exit 1; }
for lib in "${libs[@]}"; do
    # -L: Debian ships these as symlinks (and /lib -> usr/lib); copy the file
    # itself to the path the binary asks for.
    install -d -m 0755 "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
    chmod 0755 "$rootfs$lib"
    log "  $lib"
done

cat >"$rootfs/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
shardgate:x:$uid:$gid:shardgate:/nonexistent:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<GROUP
root:x:0:
shardgate:x:$gid:
GROUP
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
install -m 0644 "$here/shardgate.toml" "$rootfs/etc/shardgate/shardgate.toml"

log "docker build -t $image"
docker build -t "$image" -f "$here/Dockerfile" "$here"

# The image must at least start its loader and read its config.
log "smoke test: shardgate check inside $image"
docker run --rm --network none "$image" check --config /etc/shardgate/shardgate.toml
docker image ls "$image"
