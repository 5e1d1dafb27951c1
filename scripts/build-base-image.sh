#!/usr/bin/env bash
# Builds the Pi-like test image: Debian bookworm (what Raspberry Pi OS is built on) with
# systemd as PID 1. The tag is a hash of this script, so a changed recipe builds a new image
# and an unchanged one is reused. Prints the image reference on stdout.
#
# Where a registry is reachable, `docker build FROM debian:bookworm` is the quick path; where
# it is not (CI here), a debootstrap'd rootfs is imported with `docker import`.
set -euo pipefail

IMAGE_NAME=${PIAB_IMAGE_NAME:-pypi-in-a-box/pi-base}
DEBIAN_MIRROR=${PIAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a fresh Raspberry Pi OS Lite image has that the roles and tests rely on.
PACKAGES=python3,python3-apt,python3-venv,python3-pip,systemd,systemd-sysv,dbus,iproute2,ca-certificates,sudo,procps,curl

# Where HTTPS goes through an egress proxy with its own CA (corporate networks, CI sandboxes),
# the host trusts extra CAs in /usr/local/share/ca-certificates; the box must too, or pip
# cannot reach PyPI while provisioning. They are part of the recipe, hence of the tag.
EXTRA_CA_DIR=${PIAB_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
extra_cas=()
if [[ -d $EXTRA_CA_DIR ]]; then
    mapfile -t extra_cas < <(find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -type f | sort)
fi

recipe_hash=$( { cat "$0"; ((${#extra_cas[@]})) && cat "${extra_cas[@]}"; } | sha256sum | cut -c1-12)
image="${IMAGE_NAME}:${recipe_hash}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
fi

log() { echo "build-base-image: $*" >&2; }

build_from_registry() {
    local context
    context=$(mktemp -d)
    mkdir "$context/extra-ca"
    ((${#extra_cas[@]})) && cp "${extra_cas[@]}" "$context/extra-ca/"
    cat > "$context/Dockerfile" <<DOCKERFILE
FROM debian:bookworm
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES//,/ } \
    && update-ca-certificates
DOCKERFILE
    timeout 120 docker build -q -t "$image" "$context" >&2
    local status=$?
    rm -rf "$context"
    return $status
}

build_from_debootstrap() {
    command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; return 1; }
    local rootfs
    rootfs=$(mktemp -d /var/tmp/pi-base-rootfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" RETURN
    log "debootstrap bookworm into $rootfs (about a minute)"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$DEBIAN_MIRROR" >&2
    # A container has no console to log in on and no hardware clock to sync.
    rm -f "$rootfs"/etc/systemd/system/getty.target.wants/* \
          "$rootfs"/etc/systemd/system/multi-user.target.wants/getty* || true
    echo 'pi-box' > "$rootfs/etc/hostname"
    # Keep the apt lists, as a flashed Pi image does: an emptied lists directory with a fresh
    # mtime makes `apt: cache_valid_time` skip the update and then find no packages.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb
    if ((${#extra_cas[@]})); then
        cp "${extra_cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >&2
    fi
    tar -C "$rootfs" -c . | docker import \
        --change 'CMD ["/lib/systemd/systemd"]' \
        --change 'ENV container=docker' \
        - "$image" >&2
}

if docker pull -q debian:bookworm >/dev/null 2>&1; then
    log "registry reachable: building from debian:bookworm"
    build_from_registry
else
    log "no registry: building from a debootstrap'd rootfs"
    build_from_debootstrap
fi
echo "$image"
