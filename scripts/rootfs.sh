#!/bin/sh
# Lays out the root of node-api's image from scratch: the binary, exactly
# the shared objects it loads (its NEEDED entries, and theirs, resolved the
# way the dynamic loader resolves them), the loader itself, the CA
# certificates (for libpq's sslmode=verify-full), and the few files glibc
# reads: passwd and group naming the image's user, nsswitch.conf, and the
# resolver's hosts. Nothing else: no shell, no package manager.
#
#   scripts/rootfs.sh ROOT BINARY [LIBDIR...]
#
# LIBDIRs are searched in order (default: the multiarch directories of the
# machine's own architecture); they let the build stage lay out a
# cross-compiled binary from the target architecture's libraries, as
# readelf, unlike ldd, reads a foreign binary without running it.
set -eu

root=$1
bin=$2
shift 2
if [ $# -eq 0 ]; then
    triplet=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
    set -- "/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib
fi

mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$bin" "$root/usr/local/bin/node-api"

# The loader: the binary's PT_INTERP, at the path the binary names.
interp=$(readelf -lW "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ -n "$interp" ] || { echo "rootfs: $bin has no program interpreter" >&2; exit 1; }
mkdir -p "$root$(dirname "$interp")"
cp -L "$interp" "$root$interp"

# NEEDED entries, breadth first; each library once, at the first directory that has it.
seen=" "
queue=$(readelf -dW "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
while [ -n "$queue" ]; do
    next=""
    for lib in $queue; do
        case "$seen" in *" $lib "*) continue ;; esac
        seen="$seen$lib "
        found=""
        for dir in "$@"; do
            if [ -e "$dir/$lib" ]; then
                found="$dir/$lib"
                break
            fi
        done
        [ -n "$found" ] || { echo "rootfs: $lib (needed by the binary) not found in $*" >&2; exit 1; }
        mkdir -p "$root$(dirname "$found")"
        cp -L "$found" "$root$found"
        next="$next $(readelf -dW "$found" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
    done
    queue=$next
done

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# The image's user, by name as well as by number (libpq looks up the user's name).
printf 'root:x:0:0:root:/root:/sbin/nologin\nnode-api:x:10001:10001:node-api:/nonexistent:/sbin/nologin\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\nnode-api:x:10001:\n' >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
echo "rootfs: $(echo "$seen" | wc -w) libraries, $(du -sk "$root" | cut -f1) KiB"
