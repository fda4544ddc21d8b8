#!/usr/bin/env bash
# Makes the container test's base image, debian:bookworm-slim, from Debian's packages with
# debootstrap when podman's storage lacks it (no image registry is reachable here), trimmed like
# the official slim image. scripts/test.sh starts it beside the build; scripts/container-test.sh
# runs it too, so that it also works alone. Does nothing where podman cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v podman >/dev/null || exit 0
# Settings that work where crun cannot set resource limits and cgroups are in hybrid mode
# (checked on Debian 12 as root): runc, the vfs storage driver, cgroupfs.
pm() { podman --runtime runc --storage-driver vfs --cgroup-manager cgroupfs "$@"; }
pm info >/dev/null 2>&1 || exit 0
say() { printf '  %s\n' "$*"; }

# The base image, made from Debian's packages when missing, trimmed like the official slim one.
if ! pm image exists debian:bookworm-slim; then
    mirror=$({ grep -rhE '^(URIs:|deb) ' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null || true; } \
        | grep -oE 'https?://[^ ]+/debian/?$|https?://[^ ]+/debian/? ' | grep -v security | head -n 1 | xargs)
    mirror="${mirror:-http://deb.debian.org/debian}"
    root=$(mktemp -d)
    chmod 0755 "$root" # it becomes the image's /
    say "making debian:bookworm-slim with debootstrap from $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
    # The environment the official image declares.
    tar -C "$root" -c . | pm import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
    rm -rf "$root"
fi
