#!/usr/bin/env bash
# The site scenario (molecule/default) on an arm64 Debian system, as on a Raspberry Pi: a
# qemu-system-aarch64 VM booting Debian's arm64 kernel on the Pi-like image's rootfs, reached by
# Ansible over SSH at 127.0.0.1:2222. Prepares, converges, checks idempotence and runs the
# scenario's verify tests, then prints how long each stage took. Not part of `make test`: under
# full-system emulation it takes the better part of an hour or more.
#
#     sudo scripts/arm64-site.sh [RELEASE]        # trixie by default
#
# Why a VM and not an arm64 container through qemu-user binfmt: trixie's systemd starts no
# service under qemu-user ("Result: resources"), so only full-system emulation runs the roles.
# Needs root (debootstrap, chroot, binfmt_misc), docker, qemu-system-arm, qemu-user-static,
# binfmt-support, qemu-utils, openssh-client and unzip; `--setup` installs the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == --setup ]]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-arm qemu-user-static \
        binfmt-support qemu-utils debootstrap openssh-client unzip
    shift
fi
RELEASE=${1:-trixie}
WORK=.cache/arm64-vm
SSH_PORT=${PIAB_ARM64_SSH_PORT:-2222}
VM_MEMORY=${PIAB_ARM64_MEMORY:-2048}
VM_CPUS=${PIAB_ARM64_CPUS:-2}
# What the VM adds to the Pi-like image: a kernel that boots it, sshd for Ansible, networkd
# for the wired link (Raspberry Pi OS uses NetworkManager; either leaves the Wi-Fi alone).
VM_PACKAGES=(linux-image-arm64 initramfs-tools udev kmod openssh-server)

log() { echo "arm64-site: $*" >&2; }
stage_names=()
stage_seconds=()
current_stage=""
stage() {  # stage NAME COMMAND...: run it (a failure ends the script), remember how long it took
    current_stage=$1
    stage_start=$SECONDS
    shift
    log "== $current_stage"
    "$@"
    stage_names+=("$current_stage")
    stage_seconds+=($((SECONDS - stage_start)))
    current_stage=""
}
summary() {
    echo "arm64 site run ($RELEASE, qemu-system-aarch64 TCG, $VM_CPUS vCPUs, $VM_MEMORY MB) on $(date -u +%Y-%m-%d):"
    local i total=0
    for i in "${!stage_names[@]}"; do
        printf '  %-34s %6d s\n' "${stage_names[$i]}" "${stage_seconds[$i]}"
        total=$((total + stage_seconds[i]))
    done
    printf '  %-34s %6d s (%d min)\n' total "$total" $((total / 60))
}
on_exit() {
    local status=$?
    stop_vm
    if [[ -n $current_stage ]]; then
        stage_names+=("$current_stage: FAILED")
        stage_seconds+=($((SECONDS - stage_start)))
    fi
    ((${#stage_names[@]})) && summary
    if ((status)); then log "FAILED (the VM's console: $WORK/run/console.log)"; else log "passed"; fi
    exit $status
}

enable_binfmt() {
    [[ -e /proc/sys/fs/binfmt_misc/register ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || update-binfmts --enable qemu-aarch64
}

# The VM's disk: the arm64 Pi-like image's filesystem plus VM_PACKAGES, an SSH key and
# networking, as an ext4 image; with the kernel and initrd beside it. Keyed by the image and
# this recipe, so an unchanged one is reused.
build_disk() {
    local image=$1 dir=$2 root cid
    root=$(mktemp -d /var/tmp/piab-arm64-root.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$root'; trap - RETURN" RETURN
    cid=$(docker create "$image")
    docker export "$cid" | tar -C "$root" -x
    docker rm "$cid" >/dev/null
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    log "installing ${VM_PACKAGES[*]} in the arm64 rootfs (several minutes under emulation)"
    chroot "$root" apt-get update -q
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends \
        "${VM_PACKAGES[@]}"
    rm -rf "$root"/var/cache/apt/archives/*.deb

    mkdir -p "$dir.tmp"
    ssh-keygen -q -t ed25519 -N '' -C piab-arm64 -f "$dir.tmp/id_ed25519"
    install -d -m 0700 "$root/root/.ssh"
    install -m 0600 "$dir.tmp/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
    echo '/dev/vda / ext4 defaults 0 1' > "$root/etc/fstab"
    printf '127.0.0.1 localhost\n127.0.1.1 pi-box\n' > "$root/etc/hosts"
    # QEMU's user network answers DNS at 10.0.2.3.
    echo 'nameserver 10.0.2.3' > "$root/etc/resolv.conf"
    cat > "$root/etc/systemd/network/20-wired.network" <<'NETWORK'
[Match]
Name=en* eth*

[Network]
DHCP=yes
NETWORK
    ln -sf /lib/systemd/system/systemd-networkd.service \
        "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    # The container image has no console login; the VM keeps none either (SSH only).
    cp "$root"/boot/vmlinuz-* "$dir.tmp/vmlinuz"
    cp "$root"/boot/initrd.img-* "$dir.tmp/initrd"
    truncate -s 8G "$dir.tmp/rootfs.img"
    mkfs.ext4 -q -d "$root" "$dir.tmp/rootfs.img"
    mv "$dir.tmp" "$dir"
}

vm_pid=""
stop_vm() {
    if [[ -n $vm_pid ]]; then
        kill "$vm_pid" 2>/dev/null
        wait "$vm_pid" 2>/dev/null
    fi
    vm_pid=""
}

boot_vm() {
    local dir=$1 run=$WORK/run
    rm -rf "$run"
    mkdir -p "$run"
    # Every run starts from the freshly "flashed" disk: writes go to an overlay.
    qemu-img create -q -f qcow2 -F raw -b "$(realpath "$dir/rootfs.img")" "$run/disk.qcow2"
    qemu-system-aarch64 -M virt -cpu max -smp "$VM_CPUS" -m "$VM_MEMORY" -nographic -no-reboot \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd" \
        -append "root=/dev/vda rw console=ttyAMA0 panic=-1" \
        -drive "file=$run/disk.qcow2,if=virtio,format=qcow2" \
        -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:${SSH_PORT}-:22" -device virtio-net-pci,netdev=n0 \
        </dev/null >"$run/console.log" 2>&1 &
    vm_pid=$!
    local deadline=$((SECONDS + 900))
    until ssh "${ssh_args[@]}" true 2>/dev/null; do
        kill -0 "$vm_pid" 2>/dev/null || { log "the VM stopped; see $run/console.log"; return 1; }
        ((SECONDS < deadline)) || { log "no SSH after 15 minutes; see $run/console.log"; return 1; }
        sleep 5
    done
    ssh "${ssh_args[@]}" 'uname -m; systemctl is-system-running --wait || true' >&2
}

# uv for the clients of the verify tests: the controller's uv is an x86-64 binary, so the VM
# gets the arm64 build of the same pinned version, from its wheel on PyPI (fetched once).
fetch_uv() {
    local uv_pin wheel_dir=$WORK/uv
    uv_pin=$(grep -E '^uv==' requirements-dev.txt)
    if [[ ! -x $wheel_dir/uv ]]; then
        mkdir -p "$wheel_dir"
        .venv/bin/pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 -d "$wheel_dir" "$uv_pin"
        unzip -q -o -j "$wheel_dir"/uv-*.whl '*/scripts/uv' -d "$wheel_dir"
        chmod 0755 "$wheel_dir/uv"
    fi
    scp "${scp_args[@]}" "$wheel_dir/uv" "root@127.0.0.1:/usr/local/bin/uv"
}

run_molecule() {
    local action=$1
    molecule -c .config/molecule/config.yml -c .config/molecule/arm64-vm.yml "$action" -s default
}

main() {
    trap on_exit EXIT
    enable_binfmt
    local image key dir
    stage "build the arm64 image" image_ref
    image=$IMAGE
    key=$( { echo "$image"; sed -n '/^build_disk()/,/^}/p' "$0"; echo "${VM_PACKAGES[*]}"; } \
        | sha256sum | cut -c1-12)
    dir=$WORK/disk-$key
    [[ -d $dir ]] || stage "build the VM disk" build_disk "$image" "$dir"
    ssh_args=(-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
              -o LogLevel=ERROR -o ConnectTimeout=10 -i "$dir/id_ed25519" -p "$SSH_PORT" root@127.0.0.1)
    scp_args=(-q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
              -o LogLevel=ERROR -i "$dir/id_ed25519" -P "$SSH_PORT")
    stage "boot the VM" boot_vm "$dir"

    # The environment the scenario's files read (scripts/run-molecule.sh sets the same for
    # containers): the client's Python and CPU come from the VM itself.
    local python machine
    python=$(ssh "${ssh_args[@]}" "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    machine=$(ssh "${ssh_args[@]}" uname -m)
    export PATH=$PWD/.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$PWD/collections
    export PIAB_RELEASE=$RELEASE PIAB_IMAGE=$image PIAB_CLIENT_PYTHON=$python PIAB_CLIENT_MACHINE=$machine
    export PIAB_CLIENT=box PIAB_ARM64_KEY=$PWD/$dir/id_ed25519 PIAB_ARM64_SSH_PORT=$SSH_PORT
    export MOLECULE_EPHEMERAL_DIRECTORY=$PWD/$WORK/molecule
    PIAB_WHEELS_DIR=$(scripts/fetch-wheels.sh "$python" "$machine")
    export PIAB_WHEELS_DIR
    stage "fetch uv for arm64" fetch_uv

    for action in prepare converge idempotence verify; do
        stage "molecule $action" run_molecule "$action"
    done
}

image_ref() { IMAGE=$(scripts/build-base-image.sh "$RELEASE" arm64); }

main
