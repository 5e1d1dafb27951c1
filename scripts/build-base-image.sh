#!/usr/bin/env bash
# Builds the Pi-like test image: a Debian release (what Raspberry Pi OS is built on) with
# systemd as PID 1. Prints the image reference on stdout.
#
#     scripts/build-base-image.sh [RELEASE [ARCH]]
#
# RELEASE is a Debian suite: trixie (the default: Raspberry Pi OS has been built on it since
# late 2025) or bookworm (the previous Raspberry Pi OS, still on many cards). ARCH is a Debian
# architecture, the host's by default; a foreign one (arm64 on a PC) needs qemu-user-static with
# binfmt_misc. The tag names the release and a hash of this script and its arguments, so a
# changed recipe builds a new image and an unchanged one is reused.
#
# Where a registry is reachable, `docker build FROM debian:RELEASE` is the quick path; where
# it is not (CI here), a debootstrap'd rootfs is imported with `docker import`.
set -euo pipefail

RELEASE=${1:-trixie}
HOST_ARCH=$(dpkg --print-architecture)
ARCH=${2:-$HOST_ARCH}
IMAGE_NAME=${PIAB_IMAGE_NAME:-pypi-in-a-box/pi-base}
DEBIAN_MIRROR=${PIAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a fresh Raspberry Pi OS Lite image has that the roles and tests rely on.
PACKAGES=python3,python3-apt,python3-venv,python3-pip,systemd,systemd-sysv,dbus,iproute2,ca-certificates,sudo,procps,curl

log() { echo "build-base-image: $*" >&2; }

case $RELEASE in
    bookworm|trixie) ;;
    *) log "unknown release '$RELEASE' (bookworm or trixie)"; exit 2 ;;
esac

# Where HTTPS goes through an egress proxy with its own CA (corporate networks, CI sandboxes),
# the host trusts extra CAs in /usr/local/share/ca-certificates; the box must too, or pip
# cannot reach PyPI while provisioning. They are part of the recipe, hence of the tag.
EXTRA_CA_DIR=${PIAB_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
extra_cas=()
if [[ -d $EXTRA_CA_DIR ]]; then
    mapfile -t extra_cas < <(find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -type f | sort)
fi

recipe_hash=$( { cat "$0"; echo "$RELEASE $ARCH"; ((${#extra_cas[@]})) && cat "${extra_cas[@]}"; } \
    | sha256sum | cut -c1-12)
# The host's architecture is left out of the tag, as in Docker's own tags.
arch_part=""
[[ $ARCH == "$HOST_ARCH" ]] || arch_part="-$ARCH"
image="${IMAGE_NAME}:${RELEASE}${arch_part}-${recipe_hash}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
fi

build_from_registry() {
    local context
    context=$(mktemp -d)
    mkdir "$context/extra-ca"
    ((${#extra_cas[@]})) && cp "${extra_cas[@]}" "$context/extra-ca/"
    cat > "$context/Dockerfile" <<DOCKERFILE
FROM debian:${RELEASE}
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES//,/ } \
    && update-ca-certificates
DOCKERFILE
    local status=0
    timeout 600 docker build -q --platform "linux/$ARCH" -t "$image" "$context" >&2 || status=$?
    rm -rf "$context"
    return $status
}

build_from_debootstrap() {
    command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; return 1; }
    local rootfs
    rootfs=$(mktemp -d /var/tmp/pi-base-rootfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" RETURN
    log "debootstrap $RELEASE ($ARCH) into $rootfs (one to two minutes natively, several under emulation)"
    debootstrap --arch="$ARCH" --variant=minbase --include="$PACKAGES" "$RELEASE" "$rootfs" \
        "$DEBIAN_MIRROR" >&2
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
    tar -C "$rootfs" -c . | docker import --platform "linux/$ARCH" \
        --change 'CMD ["/lib/systemd/systemd"]' \
        --change 'ENV container=docker' \
        - "$image" >&2
}

if [[ $ARCH != "$HOST_ARCH" ]]; then
    # Debian's architecture names, qemu's names for the CPU.
    declare -A qemu_cpu=([arm64]=aarch64 [amd64]=x86_64 [armhf]=arm)
    cpu=${qemu_cpu[$ARCH]:-$ARCH}
    if ! grep -qx enabled "/proc/sys/fs/binfmt_misc/qemu-$cpu" 2>/dev/null; then
        log "an $ARCH image on $HOST_ARCH needs qemu-user-static registered with binfmt_misc:"
        log "  apt-get install qemu-user-static binfmt-support"
        log "  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-$cpu"
        exit 1
    fi
fi
if docker pull -q --platform "linux/$ARCH" "debian:$RELEASE" >/dev/null 2>&1; then
    log "registry reachable: building from debian:$RELEASE"
    build_from_registry
else
    log "no registry: building from a debootstrap'd rootfs"
    build_from_debootstrap
fi
echo "$image"
