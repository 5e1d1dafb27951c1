"""Build and boot the radio test VM: a Debian kernel with simulated Wi-Fi (mac80211_hwsim).

The host has no Wi-Fi hardware and no kernel modules, so the test boots Debian bookworm's own
kernel under qemu (TCG) with an initramfs whose /init (tests/radio/init.sh) runs the whole
scenario: hostapd and dnsmasq with the configs our roles render, a wpa_supplicant client per
network namespace, and markers (``RADIO-TEST: ...``) on the serial console for the host to read.

Build products are cached under ``.cache/radio/`` in stages, each keyed by a hash of its recipe
(the inputs plus the source of the functions that build it), so editing /init or a template only
rebuilds the small second archive:

1. ``rootfs-<key>/``: debootstrap'd bookworm with the test's packages plus the kernel package's
   files, ``depmod`` run inside it (the host has no kmod). About 250 MB + 400 MB of modules.
2. ``base-<key>/``: ``vmlinux`` (the uncompressed ELF, booted through its PVH entry: much faster
   under TCG than the bzImage + BIOS path) and ``base.cpio``, the rootfs trimmed to the binaries
   the scenario runs, their shared libraries and the modules mac80211_hwsim needs (~40 MB).
3. per run, not cached: ``overlay.cpio`` with /init and the rendered configs. The kernel accepts
   concatenated newc archives, so the initrd is base.cpio + overlay.cpio.

Every stage is built in a temporary directory and renamed into place when complete, under a lock,
so an interrupted build leaves nothing half-made behind and two runs don't race.

Run by hand: ``python tests/radio/radio_build.py`` builds (or reuses) the VM, renders the configs,
boots it and prints the console.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path(os.environ.get("PIAB_RADIO_CACHE", REPO / ".cache" / "radio"))

SUITE = "bookworm"
MIRROR = os.environ.get("PIAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Everything the scenario runs inside the VM. The kernel comes separately (see fetch_kernel).
PACKAGES = [
    "busybox",
    "curl",
    "dnsmasq-base",
    "hostapd",
    "iproute2",
    "iw",
    "kmod",
    "nginx",
    "wireless-regdb",
    "wpasupplicant",
]
# Which kernel: the package the linux-image-amd64 metapackage points at in the host's apt lists
# (bookworm's 6.1). Resolved at build time, recorded in the base stage.
KERNEL_METAPACKAGE = "linux-image-amd64"

# Programs copied into the trimmed image (with every shared library ldd reports for them).
BINARIES = [
    "/usr/bin/busybox",
    "/usr/bin/curl",
    "/usr/bin/getent",
    "/usr/bin/kmod",
    "/usr/sbin/depmod",
    "/usr/sbin/dnsmasq",
    "/usr/sbin/hostapd",
    "/usr/sbin/hostapd_cli",
    "/usr/sbin/insmod",
    "/usr/sbin/ip",
    "/usr/sbin/iw",
    "/usr/sbin/lsmod",
    "/usr/sbin/modprobe",
    "/usr/sbin/nginx",
    "/usr/sbin/wpa_cli",
    "/usr/sbin/wpa_supplicant",
]
# Plain files the programs read.
DATA_FILES = [
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/lib/firmware/regulatory.db",
    "/lib/firmware/regulatory.db.p7s",
]
# Modules loaded explicitly or on demand (crypto for CCMP/GCMP/BIP); their dependencies follow
# from modules.dep. The crypto directories are small and modules request each other by alias.
MODULES = ["mac80211_hwsim", "ccm", "ctr", "gcm", "cmac", "michael_mic", "ghash-generic"]
MODULE_DIRS = ["kernel/crypto", "kernel/arch/x86/crypto", "kernel/lib/crypto"]


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def log(msg: str) -> None:
    print(f"[radio] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run a command, raising BuildError with its output when it fails."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    # A stalled mirror must not hang CI: debootstrap takes about a minute, everything else less.
    kw.setdefault("timeout", 900)
    try:
        proc = subprocess.run(cmd, check=False, **kw)  # checked below, with the output
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{' '.join(cmd)} did not finish within {exc.timeout} s") from exc
    if proc.returncode != 0:
        out = ((proc.stdout or "") + (proc.stderr or ""))[-4000:]
        raise BuildError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{out}")
    return proc


def recipe_key(*parts: object) -> str:
    """Hash of a stage's inputs: any JSON-able values and the source of functions."""
    h = hashlib.sha256()
    for part in parts:
        text = inspect.getsource(part) if callable(part) else json.dumps(part, sort_keys=True)
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_stage(name: str, key: str, build) -> Path:
    """Return CACHE/<name>-<key>, building it with build(tmpdir) first if it is missing.

    The directory appears atomically (rename of a finished temp dir); older keys of the same
    stage are removed afterwards so the cache doesn't grow with every recipe change.
    """
    final = CACHE / f"{name}-{key}"
    if final.is_dir():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-{key}-", dir=CACHE))
    start = time.monotonic()
    try:
        build(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"built {final.name} in {time.monotonic() - start:.0f} s")
    for old in CACHE.glob(f"{name}-*"):
        if old != final and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    for stale in CACHE.glob(f".{name}-*"):  # left by a killed build
        shutil.rmtree(stale, ignore_errors=True)
    return final


# --- stage 1: rootfs -------------------------------------------------------------------------


def resolve_kernel_package() -> str:
    """The versioned image package (linux-image-6.1.0-N-amd64) the metapackage depends on."""
    out = run(["apt-cache", "depends", KERNEL_METAPACKAGE]).stdout
    for line in out.splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-[0-9][^\s]*-amd64)\s*$", line)
        if m:
            return m.group(1)
    raise BuildError(
        f"apt-cache knows no kernel for {KERNEL_METAPACKAGE} (run `apt-get update`?):\n{out}"
    )


def build_rootfs(dest: Path, kernel_package: str) -> None:
    root = dest / "root"
    log(f"debootstrap {SUITE} with {', '.join(PACKAGES)} (about a minute)")
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(root),
            MIRROR,
        ]
    )
    log(f"fetching {kernel_package}")
    debs = dest / "debs"
    debs.mkdir()
    # apt's sandbox user can't write to root-owned temp dirs; it falls back with a warning.
    try:
        run(["apt-get", "download", "-q", kernel_package], cwd=debs)
    except BuildError as exc:
        # The mirror drops a kernel ABI's package when the next one arrives.
        raise BuildError(f"{exc}\n(stale apt lists? run `apt-get update` on the host)") from exc
    (deb,) = debs.glob("linux-image-*.deb")
    # Unpacked beside the rootfs, not into it: the package's real /lib directory would replace
    # the rootfs's merged-/usr link lib -> usr/lib.
    unpacked = dest / "kernel"
    run(["dpkg-deb", "-x", str(deb), str(unpacked)])
    (version,) = [p.name for p in (unpacked / "lib/modules").iterdir()]
    (root / "usr/lib/modules").mkdir(exist_ok=True)
    os.rename(unpacked / "lib/modules" / version, root / "usr/lib/modules" / version)
    for item in (unpacked / "boot").iterdir():
        os.rename(item, root / "boot" / item.name)
    shutil.rmtree(unpacked)
    run(["chroot", str(root), "/usr/sbin/depmod", "-a", version])
    (dest / "kernel-version").write_text(version + "\n")
    (dest / "kernel-package").write_text(deb.name + "\n")
    shutil.rmtree(debs)
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)


# --- stage 2: vmlinux + trimmed base archive ----------------------------------------------------


def extract_vmlinux(bzimage: Path, out: Path) -> None:
    """Decompress the ELF kernel from a bzImage (Debian's is XZ-compressed), like extract-vmlinux.

    qemu boots an ELF vmlinux through its PVH note, skipping the real-mode setup and the
    decompressor, which are slow under TCG.
    """
    data = bzimage.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    if start < 0:
        raise BuildError(f"{bzimage}: no XZ stream found (not an XZ-compressed bzImage?)")
    elf = lzma.LZMADecompressor().decompress(data[start:])
    if elf[:4] != b"\x7fELF":
        raise BuildError(f"{bzimage}: the XZ stream is not an ELF kernel")
    out.write_bytes(elf)


def resolve_in_root(root: Path, path: str) -> str:
    """Follow symlinks of an absolute path inside root (targets are relative to root, not /)."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if part == ".":
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise BuildError(f"symlink loop resolving {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def shared_libraries(root: Path, binary: str) -> set[str]:
    out = run(["chroot", str(root), "/usr/bin/ldd", binary]).stdout
    libs = set()
    for line in out.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.add(m.group(1))
    return libs


def module_closure(modules_dir: Path, roots: Iterable[str], dirs: Iterable[str]) -> set[str]:
    """Relative paths of the named modules, every module under dirs, and all their dependencies."""
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("-", "_"): m for m in deps}
    todo = []
    for name in roots:
        key = name.replace("-", "_")
        if key not in by_name:
            raise BuildError(f"kernel module {name} not found in {modules_dir}")
        todo.append(by_name[key])
    todo += [m for m in deps if any(m.startswith(d + "/") for d in dirs)]
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(deps.get(mod, []))
    return seen


def copy_path(root: Path, dest: Path, path: str) -> None:
    """Copy path from root into dest, keeping each symlink on the way as an absolute link."""
    real = resolve_in_root(root, path)
    src = root / real.lstrip("/")
    if not src.exists():
        raise BuildError(f"{path} is missing in the rootfs")
    target = dest / real.lstrip("/")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    if real != path:
        # Only the last component can be a link at this point: the top-level /bin, /lib, ...
        # links already exist in dest, so parents resolve the same way as in root.
        link = dest / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(real, link)


def build_base(dest: Path, rootfs: Path) -> None:
    root = rootfs / "root"
    version = (rootfs / "kernel-version").read_text().strip()
    log(f"extracting vmlinux from kernel {version}")
    extract_vmlinux(root / f"boot/vmlinuz-{version}", dest / "vmlinux")
    shutil.copy2(rootfs / "kernel-version", dest / "kernel-version")
    shutil.copy2(rootfs / "kernel-package", dest / "kernel-package")

    tree = dest / "tree"
    tree.mkdir()
    # Debian's merged /usr: keep the top-level links so paths in binaries and scripts resolve.
    for name in ("bin", "lib", "lib64", "sbin"):
        os.symlink(f"usr/{name}", tree / name)
    for name in (
        "usr/bin", "usr/sbin", "usr/lib64", "proc", "sys", "dev", "run", "tmp", "etc",
        "var/lib/misc", "root",
    ):  # fmt: skip
        (tree / name).mkdir(parents=True, exist_ok=True)
    os.symlink("/run", tree / "var/run")

    wanted: set[str] = set(DATA_FILES)
    for binary in BINARIES:
        wanted.add(binary)
        wanted |= shared_libraries(root, binary)
    for path in sorted(wanted):
        copy_path(root, tree, path)
    # busybox is the shell for /init and the udhcpc script.
    os.symlink("busybox", tree / "usr/bin/sh")
    (tree / "etc/resolv.conf").write_text("")
    (tree / "etc/hosts").write_text("127.0.0.1 localhost\n")

    modules = root / "lib/modules" / version
    for rel in sorted(module_closure(modules, MODULES, MODULE_DIRS)):
        target = tree / "usr/lib/modules" / version / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(modules / rel, target)
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        shutil.copy2(modules / name, tree / "usr/lib/modules" / version / name)
    # Regenerate the module index for the trimmed set with the image's own depmod.
    run(["chroot", str(tree), "/usr/sbin/depmod", "-a", version])

    with open(dest / "base.cpio", "wb") as out:
        write_cpio(out, tree_entries(tree), devices=[("dev/console", 5, 1)])
    shutil.rmtree(tree)


# --- cpio (newc) writer ---------------------------------------------------------------------


@dataclass
class Entry:
    name: str  # relative, no leading slash
    mode: int
    data: bytes | Path | None = None  # file contents, a file to copy, or a symlink target


def tree_entries(tree: Path) -> Iterator[Entry]:
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        base = Path(dirpath)
        rel = base.relative_to(tree)
        if str(rel) != ".":
            yield Entry(str(rel), stat.S_IFDIR | 0o755)
        for name in sorted(filenames) + [d for d in dirnames if (base / d).is_symlink()]:
            path = base / name
            st = path.lstat()
            relname = str(rel / name) if str(rel) != "." else name
            if stat.S_ISLNK(st.st_mode):
                yield Entry(relname, stat.S_IFLNK | 0o777, os.readlink(path).encode())
            else:
                yield Entry(relname, stat.S_IFREG | stat.S_IMODE(st.st_mode), path)


def write_cpio(out, entries: Iterable[Entry], devices: Iterable[tuple[str, int, int]] = ()) -> None:
    """Write an initramfs archive (newc format), every file owned by root, mtime 0.

    Written here rather than with cpio(1) so that device nodes (/dev/console, needed before
    devtmpfs is mounted) need no mknod on the host and the archive is reproducible.
    """
    ino = 1

    def header(name: str, mode: int, size: int, rdev: tuple[int, int] = (0, 0)) -> bytes:
        nonlocal ino
        encoded = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, rdev[0], rdev[1], len(encoded), 0]
        ino += 1
        head = b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
        return head + b"\0" * (-len(head) % 4)

    def pad(n: int) -> bytes:
        return b"\0" * (-n % 4)

    for entry in entries:
        if isinstance(entry.data, Path):
            size = entry.data.stat().st_size
            out.write(header(entry.name, entry.mode, size))
            with open(entry.data, "rb") as src:
                shutil.copyfileobj(src, out)
            out.write(pad(size))
        else:
            data = entry.data or b""
            out.write(header(entry.name, entry.mode, len(data)))
            out.write(data + pad(len(data)))
    for name, major, minor in devices:  # after the entries: their directory must exist first
        out.write(header(name, stat.S_IFCHR | 0o600, 0, (major, minor)))
    out.write(header("TRAILER!!!", 0, 0))


# --- entry points ---------------------------------------------------------------------------


def missing_host_tools() -> list[str]:
    """Apt packages the host lacks for building and booting the VM."""
    needed = {
        "qemu-system-x86_64": "qemu-system-x86",
        "debootstrap": "debootstrap",
        "apt-get": "apt",
        "dpkg-deb": "dpkg",
        "chroot": "coreutils",
    }
    missing = sorted({pkg for tool, pkg in needed.items() if shutil.which(tool) is None})
    if not Path(QBOOT).exists():
        missing.append("qemu-system-data (for qboot.rom)")
    return missing


QBOOT = "/usr/share/qemu/qboot.rom"


def build_vm() -> Path:
    """Build (or reuse) the cached kernel + base archive; return the base stage directory."""
    with cache_lock():
        kernel_package = resolve_kernel_package()
        rootfs_key = recipe_key(SUITE, MIRROR, PACKAGES, kernel_package, build_rootfs)
        base_key = recipe_key(
            rootfs_key, BINARIES, DATA_FILES, MODULES, MODULE_DIRS, build_base, copy_path,
            resolve_in_root, shared_libraries, module_closure, extract_vmlinux, write_cpio,
            tree_entries,
        )  # fmt: skip

        def build_base_stage(dest: Path) -> None:
            # The rootfs is only needed (and built) when the base archive must be rebuilt.
            rootfs = cached_stage("rootfs", rootfs_key, lambda d: build_rootfs(d, kernel_package))
            build_base(dest, rootfs)

        return cached_stage("base", base_key, build_base_stage)


def extra_vars_from_env() -> list[str]:
    """KEY=VALUE pairs from PIAB_RADIO_EXTRA_VARS, passed to render.yml as extra vars.

    For trying the radio with other role settings by hand, e.g.
    ``PIAB_RADIO_EXTRA_VARS="access_point_channel=11" pytest tests/radio``.
    """
    return os.environ.get("PIAB_RADIO_EXTRA_VARS", "").split()


def render_configs(dest: Path, extra_vars: Iterable[str] = ()) -> None:
    """Render the roles' real templates (and the test's client configs) with Ansible."""
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / "collections")
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    # The venv's ansible-playbook when run from it without activating it.
    venv_playbook = Path(sys.executable).parent / "ansible-playbook"
    playbook = str(venv_playbook) if venv_playbook.exists() else "ansible-playbook"
    run(
        [playbook, str(HERE / "render.yml"), "-i", "localhost,", "-e", f"radio_dest={dest}"]
        + [arg for var in extra_vars for arg in ("-e", var)],
        cwd=REPO,
        env=env,
    )


def build_overlay(configs: Path, out: Path) -> None:
    """The small per-run archive: /init and everything render.yml wrote."""
    entries = []
    for path in sorted(configs.rglob("*")):
        rel = str(path.relative_to(configs))
        if path.is_dir():
            entries.append(Entry(rel, stat.S_IFDIR | 0o755))
        else:
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            entries.append(Entry(rel, stat.S_IFREG | mode, path))
    # After the configs: etc/radio/ must exist in the archive before a file in it.
    entries.append(Entry("init", stat.S_IFREG | 0o755, HERE / "init.sh"))
    entries.append(Entry("etc/radio/udhcpc.sh", stat.S_IFREG | 0o755, HERE / "udhcpc.sh"))
    with open(out, "wb") as fh:
        write_cpio(fh, entries)


@dataclass
class RunResult:
    console: str
    seconds: float
    timed_out: bool
    returncode: int | None


def boot(base: Path, configs: Path, workdir: Path, timeout: float = 240) -> RunResult:
    """Boot the VM once and return its serial console output. qemu is killed at the timeout."""
    initrd = workdir / "initrd.cpio"
    overlay = workdir / "overlay.cpio"
    build_overlay(configs, overlay)
    with open(initrd, "wb") as out:
        for part in (base / "base.cpio", overlay):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out)
    console = workdir / "console.log"
    cmd = [
        "qemu-system-x86_64",
        "-machine", "pc,accel=tcg",  # KVM hangs on these machines; TCG works
        "-cpu", "max",
        "-m", "768",
        "-smp", "1",
        "-bios", QBOOT,
        "-kernel", str(base / "vmlinux"),
        "-initrd", str(initrd),
        "-append", "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", f"file:{console}",
        "-monitor", "none",
    ]  # fmt: skip
    start = time.monotonic()
    timed_out = False
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, _ = proc.communicate()
    seconds = time.monotonic() - start
    text = console.read_text(errors="replace") if console.exists() else ""
    if out:
        text += "\n[qemu output]\n" + out.decode(errors="replace")
    return RunResult(text, seconds, timed_out, proc.returncode)


def main() -> int:
    missing = missing_host_tools()
    if missing:
        print(f"missing host packages: {' '.join(missing)}", file=sys.stderr)
        return 2
    start = time.monotonic()
    base = build_vm()
    log(f"VM ready in {time.monotonic() - start:.0f} s: {base}")
    with tempfile.TemporaryDirectory(prefix="piab-radio-") as tmp:
        configs = Path(tmp) / "configs"
        configs.mkdir()
        render_configs(configs, extra_vars_from_env())
        result = boot(base, configs, Path(tmp))
    print(result.console)
    log(f"qemu ran {result.seconds:.1f} s, exit {result.returncode}, timed out: {result.timed_out}")
    return 0 if "RADIO-TEST: done" in result.console else 1


if __name__ == "__main__":
    sys.exit(main())
