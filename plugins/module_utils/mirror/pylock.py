"""pylock.toml (PEP 751, lock-version 1.x) read into a ``lockmodel.Lock``.

Per target, the packages whose ``marker`` holds are the ones an installer takes (PEP 751 asks
installers to evaluate each package's marker; at most one entry per name may apply). Markers
are evaluated twice, once with no extras and the ``default-groups``, once with every extra and
every dependency group the lock offers, so the mirror serves whichever an attendee chooses.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from . import lockmodel as lm
from .errors import MirrorInputError
from .targets import Target

KIND = "pylock.toml"
MAJOR = 1


@dataclass(frozen=True)
class _Entry:
    name: str
    version: Version | None
    marker: Marker | None
    requires_python: SpecifierSet | None
    package: lm.LockedPackage | None  # None: from the attendee's checkout


def _file(item: object, package: str, version: Version | None, where: str) -> lm.LockedFile:
    item = lm.table(item, where)
    filename = lm.file_name(item, "name", where)  # PEP 751: else from its URL or path
    hashes = lm.table(item.get("hashes"), f"{where}: hashes of {filename}")
    sha256 = hashes.get("sha256")
    url = item.get("url")
    return lm.locked_file(filename, sha256.lower() if isinstance(sha256, str) else None,
                          url if isinstance(url, str) else None, package, version, where)


def _unservable(entry: dict) -> str | None:
    """Why a mirror cannot hold this package (a remote VCS or archive); None if it can, or if
    the package comes from the attendee's own checkout."""
    vcs = entry.get("vcs")
    if isinstance(vcs, dict) and vcs.get("url"):
        return f"the {vcs.get('type', 'VCS')} repository {vcs['url']}"
    archive = entry.get("archive")
    if isinstance(archive, dict) and archive.get("url"):
        return f"the archive {archive['url']}"
    return None


def _entry(raw: object, index: int, where: str) -> _Entry:
    entry = lm.table(raw, f"{where}: packages[{index}]")
    name = lm.name(entry.get("name"), f"{where}: packages[{index}].name")
    here = f"{where}: package {name}"
    version = lm.version(entry.get("version"), here)
    local = any(key in entry for key in ("directory", "vcs", "archive"))
    unservable = _unservable(entry)
    package = None
    if unservable:
        package = lm.LockedPackage(name, version, unservable=unservable)
    elif not local:
        files = [_file(entry["sdist"], name, version, here)] if "sdist" in entry else []
        files += [_file(w, name, version, here) for w in lm.array(entry.get("wheels"), here)]
        if not files:
            raise MirrorInputError(f"{here} names no file and no source")
        package = lm.LockedPackage(name, version, tuple(files))
    return _Entry(name, version, lm.marker(entry.get("marker"), here),
                  lm.specifier(entry.get("requires-python"), here), package)


def _strings(doc: dict, key: str, where: str) -> frozenset[str]:
    return frozenset(lm.text(v, f"{where}: {key}") for v in lm.array(doc.get(key), where))


def parse(doc: dict, where: str) -> lm.Lock:
    """The Lock a pylock.toml document describes (raises MirrorInputError)."""
    version = lm.version(doc.get("lock-version"), f"{where}: lock-version")
    if version is None or version.major != MAJOR:
        raise MirrorInputError(f"{where}: lock-version {doc.get('lock-version')!r}: this mirror "
                               f"reads PEP 751 locks of version {MAJOR}.x")
    extras, groups, defaults = (_strings(doc, key, where) for key in (
        "extras", "dependency-groups", "default-groups"))
    entries = [_entry(raw, i, where)
               for i, raw in enumerate(lm.array(doc.get("packages"), f"{where}: packages"))]

    def installs(target: Target) -> list[lm.LockedPackage]:
        chosen: dict[str, _Entry] = {}
        for entry in entries:
            if not (lm.holds(entry.marker, target, frozenset(), defaults)
                    or lm.holds(entry.marker, target, extras, groups)):
                continue
            if entry.requires_python is not None and not entry.requires_python.contains(
                    target.python_minor, prereleases=True):
                raise lm.Uncovered(f"{entry.name} {entry.version or ''} requires Python "
                                   f"{entry.requires_python}")
            if entry.name in chosen:
                raise lm.Uncovered(f"two entries of {entry.name} apply "
                                   f"({chosen[entry.name].version}, {entry.version})")
            chosen[entry.name] = entry
        return [e.package for e in chosen.values() if e.package is not None]

    registries = sorted({p["index"] for p in doc.get("packages", [])
                         if isinstance(p, dict) and isinstance(p.get("index"), str)})
    return lm.Lock(
        path=where, kind=KIND,
        packages=tuple(e.package for e in entries if e.package is not None),
        registries=tuple(registries),
        requires_python=lm.specifier(doc.get("requires-python"), f"{where}: requires-python"),
        environments=tuple(lm.marker(m, f"{where}: environments")
                           for m in lm.array(doc.get("environments"), f"{where}: environments")),
        installs=installs,
    )
