#!/bin/sh
# Makes the base image the Dockerfile's build stage names, debian:bookworm,
# from Debian's mirror with debootstrap, for machines that cannot pull from
# a registry (podman only; the image itself is FROM scratch). Does nothing
# when it already exists, so the 30 s debootstrap runs once per machine.
#
#   scripts/base-image.sh            DEBIAN_MIRROR overrides the mirror
set -eu

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if podman image exists debian:bookworm; then
    exit 0
fi
for tool in debootstrap podman; do
    command -v "$tool" >/dev/null || { echo "base-image: $tool is not installed" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "base-image: debootstrap needs root" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
root="$tmp/rootfs"

echo "base-image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
    tail -20 "$tmp/debootstrap.log" >&2
    exit 1
}
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SOURCES
# As Debian's own images: apt keeps no package or binary caches behind.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import -q --change 'CMD ["bash"]' - debian:bookworm >/dev/null
echo "base-image: made debian:bookworm"
