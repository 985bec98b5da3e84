#!/usr/bin/env bash
# Assemble the image's root filesystem from a built binary:
#   rootfs.sh BINARY CONFIG ROOTFS
# - /usr/local/bin/shardgate, debug info stripped (symbols kept, so perf and
#   backtraces have names);
# - exactly the shared libraries `ldd` lists, at the paths the loader asks for,
#   plus the loader (the ELF interpreter) itself;
# - /etc/passwd and /etc/group with the non-root user shardgate (10001:10001);
# - CONFIG as /etc/shardgate/shardgate.toml;
# - the builder's CA bundle as /etc/ssl/certs/ca-certificates.crt, when it has
#   one, so upstream TLS without `ca` finds a trust store.
# Used by build.sh (on this machine) and by the build stage of Dockerfile (in
# the toolchain image), so both images have the same contents. Needs ldd,
# readelf and objcopy (libc-bin and binutils on Debian).
set -euo pipefail

[[ $# == 3 ]] || { echo "usage: $0 BINARY CONFIG ROOTFS" >&2; exit 2; }
bin=$1 config=$2 rootfs=$3
uid=10001
gid=10001
log() { printf '==> %s\n' "$*" >&2; }

[[ -x $bin ]] || { echo "no binary at $bin" >&2; exit 1; }
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
install -m 0644 "$config" "$rootfs/etc/shardgate/shardgate.toml"

ca=/etc/ssl/certs/ca-certificates.crt
if [[ -f $ca ]]; then
    install -d -m 0755 "$rootfs/etc/ssl/certs"
    install -m 0644 "$ca" "$rootfs$ca"
    log "  $ca"
fi
