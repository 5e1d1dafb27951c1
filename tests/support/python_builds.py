"""Stand-ins for python-build-standalone, whose releases (on GitHub) tests cannot reach.

- ``standin_from_image``: a real, runnable CPython - the python3 of a Debian image, repacked in
  python-build-standalone's ``install_only`` layout (``python/bin``, ``python/lib``), which is
  what ``uv python install`` unpacks and runs;
- ``fake_build``: an archive with that layout that does not run, for the engine's tests, with
  incompressible padding so that a transfer can be cut in its middle;
- ``listing``: entries for them in the format of uv's ``download-metadata.json`` (what uv and the
  pypi_mirror_tools module read), with their sha256, their files on a test upstream's
  ``/static/`` (``serve``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from urllib.parse import quote

# Where python-build-standalone's release would be: the folder of every stand-in.
RELEASE = "20990101"
LISTING = "download-metadata.json"
# What a workshop laptop needs of the standard library to run uv's interpreter probe and a venv;
# the rest only makes the stand-in bigger.
_LEFT_OUT = {"__pycache__", "dist-packages", "site-packages", "test", "idlelib", "tkinter",
             "turtledemo", "lib2to3", "pydoc_data", "ensurepip", "EXTERNALLY-MANAGED"}


@dataclass(frozen=True)
class Build:
    version: str  # 3.11.2
    os: str  # uv's names: linux, darwin, windows
    arch: str
    libc: str
    triple: str
    data: bytes
    variant: str | None = None  # None, "freethreaded", "debug"
    arch_variant: str | None = None  # x86-64 microarchitecture levels: None, "v2", "v3", "v4"

    @property
    def filename(self) -> str:
        flavour = f"+{self.variant}" if self.variant else ""
        level = f"_{self.arch_variant}" if self.arch_variant else ""
        triple = self.triple.replace("x86_64", "x86_64" + level)
        return f"cpython-{self.version}+{RELEASE}-{triple}{flavour}-install_only.tar.gz"

    @property
    def path(self) -> str:
        """Where the upstream serves it, under /static/."""
        return f"{RELEASE}/{self.filename}"

    @property
    def key(self) -> str:
        flavour = f"+{self.variant}" if self.variant else ""
        level = f"_{self.arch_variant}" if self.arch_variant else ""
        return f"cpython-{self.version}{flavour}-{self.os}-{self.arch}{level}-{self.libc}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def entry(self, base_url: str) -> dict:
        major, minor, patch = (int(p) for p in self.version.split("."))
        return {"name": "cpython", "arch": {"family": self.arch, "variant": self.arch_variant},
                "os": self.os, "libc": self.libc, "major": major, "minor": minor,
                "patch": patch, "prerelease": "",
                "url": f"{base_url}/static/{RELEASE}/{quote(self.filename)}",
                "sha256": self.sha256, "variant": self.variant, "build": RELEASE}


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def fake_build(version: str, os_name: str, arch: str, libc: str, triple: str,
               padding: int = 600_000, variant: str | None = None,
               arch_variant: str | None = None) -> Build:
    """An archive in the install_only layout that does not run (a text file for python)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        _add(tar, f"python/bin/python{version.rsplit('.', 1)[0]}",
             f"#!/bin/sh\necho stand-in {version} {triple}\n".encode(), 0o755)
        # Seeded, so that the same call gives the same bytes (and sha256) every time.
        seed = f"{version} {triple} {variant} {arch_variant}".encode()
        _add(tar, "python/lib/padding", hashlib.shake_256(seed).digest(padding))
    return Build(version, os_name, arch, libc, triple, out.getvalue(), variant, arch_variant)


def _repack(tree: bytes, minor: str) -> bytes:
    """usr/bin/python3.X and usr/lib/python3.X of a tar stream as python/bin, python/lib."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tree)) as source, \
            tarfile.open(fileobj=out, mode="w:gz") as tar:
        for member in source:
            parts = member.name.split("/")
            if _LEFT_OUT & set(parts) or (member.issym() and member.linkname.startswith("/")):
                continue  # a link out of the tree would escape uv's install dir: uv refuses it
            if member.name == f"usr/bin/python{minor}":
                member.name = f"python/bin/python{minor}"
            elif member.name.startswith(f"usr/lib/python{minor}"):
                member.name = "python/lib/" + member.name[len("usr/lib/"):]
            else:
                continue
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
        for name in ("python3", "python"):
            _link(tar, f"python/bin/{name}", f"python{minor}")
    return out.getvalue()


def standin_from_image(image: str) -> Build:
    """The image's own python3, as a build uv can install and run in that image."""
    probe = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python3", image, "-c",
         "import platform, sys; print('%d.%d.%d' % sys.version_info[:3], platform.machine())"],
        capture_output=True, text=True, check=True, timeout=120).stdout.split()
    version, machine = probe
    minor = version.rsplit(".", 1)[0]
    tree = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "tar", image, "-C", "/", "-c",
         f"usr/bin/python{minor}", f"usr/lib/python{minor}"],
        capture_output=True, check=True, timeout=300).stdout
    arch = {"x86_64": "x86_64", "aarch64": "aarch64"}[machine]
    return Build(version, "linux", arch, "gnu", f"{arch}-unknown-linux-gnu",
                 _repack(tree, minor))


def listing(builds: list[Build], base_url: str) -> bytes:
    return json.dumps({b.key: b.entry(base_url) for b in builds}, indent=1).encode()


def serve(upstream, builds: list[Build]) -> str:
    """Put ``builds`` and their list on a started test upstream; returns the list's URL."""
    for build in builds:
        upstream.static[build.path] = build.data
    upstream.static[LISTING] = listing(builds, upstream.base_url)
    return f"{upstream.base_url}/static/{LISTING}"


def write(builds: list[Build], base_url: str, folder: str) -> None:
    """The same tree on disk, for an upstream started elsewhere (Molecule)."""
    os.makedirs(os.path.join(folder, RELEASE), exist_ok=True)
    for build in builds:
        with open(os.path.join(folder, build.path), "wb") as handle:
            handle.write(build.data)
    with open(os.path.join(folder, LISTING), "wb") as handle:
        handle.write(listing(builds, base_url))
