"""uv.lock (version 1) read into a ``lockmodel.Lock``.

A uv.lock is a universal resolution: its packages carry no markers, its edges do. Per target
the packages to install are those reachable from the workspace's own packages (the project,
with every extra and dependency group it declares: attendees may ask for any) through edges
whose markers hold there, the way ``uv sync`` walks it. Packages with a ``registry`` source come
from an index, ``git``/``url`` ones from places a mirror cannot serve, and ``virtual``,
``editable``, ``directory`` and ``path`` ones from the attendee's checkout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.version import Version

from . import lockmodel as lm
from .errors import MirrorInputError
from .targets import Target

KIND = "uv.lock"
VERSION = 1
LOCAL_SOURCES = ("virtual", "editable", "directory", "path")
ROOT_SOURCES = ("virtual", "editable")
REMOTE_SOURCES = ("git", "url")


@dataclass(frozen=True)
class _Edge:
    to: int  # index of the package it leads to
    marker: Marker | None
    extras: frozenset[str]


@dataclass
class _Node:
    name: str
    version: Version | None
    source: dict
    raw: dict
    package: lm.LockedPackage | None = None  # None: from the attendee's checkout
    dependencies: list[_Edge] = field(default_factory=list)
    optional: dict[str, list[_Edge]] = field(default_factory=dict)  # extra -> edges
    groups: dict[str, list[_Edge]] = field(default_factory=dict)  # dev group -> edges


def _file(item: object, node: _Node, where: str) -> lm.LockedFile:
    item = lm.table(item, where)
    filename = lm.file_name(item, "filename", where)
    algorithm, _, digest = str(item.get("hash") or "").partition(":")
    url = item.get("url")
    return lm.locked_file(filename, digest.lower() if algorithm == "sha256" else None,
                          url if isinstance(url, str) else None, node.name, node.version, where)


def _package(node: _Node, where: str) -> lm.LockedPackage | None:
    kind = next((k for k in (*LOCAL_SOURCES, *REMOTE_SOURCES, "registry") if k in node.source),
                None)
    if kind is None:
        raise MirrorInputError(f"{where}: unknown source {node.source!r}")
    if kind in LOCAL_SOURCES:
        return None
    if kind in REMOTE_SOURCES:
        return lm.LockedPackage(node.name, node.version,
                                unservable=f"the {kind} source {node.source[kind]}")
    files = [_file(node.raw["sdist"], node, where)] if "sdist" in node.raw else []
    files += [_file(w, node, where) for w in lm.array(node.raw.get("wheels"), where)]
    if not files:
        raise MirrorInputError(f"{where} names no file")
    return lm.LockedPackage(node.name, node.version, tuple(files))


def _edges(raw: object, nodes: list[_Node], by_name: dict[str, list[int]],
           where: str) -> list[_Edge]:
    edges = []
    for item in lm.array(raw, where):
        item = lm.table(item, where)
        name = lm.name(item.get("name"), where)
        version = lm.version(item.get("version"), where)
        source = item.get("source")
        found = [i for i in by_name.get(name, [])
                 if (version is None or nodes[i].version == version)
                 and (source is None or nodes[i].source == source)]
        if len(found) != 1:
            what = "no package" if not found else "more than one package"
            wanted = f"{name} {version}" if version else name
            raise MirrorInputError(f"{where}: the dependency on {wanted} names {what} of the "
                                   "lock")
        extras = frozenset(lm.text(e, where) for e in lm.array(item.get("extra"), where))
        edges.append(_Edge(found[0], lm.marker(item.get("marker"), where), extras))
    return edges


def _nodes(doc: dict, where: str) -> list[_Node]:
    nodes = []
    for index, raw in enumerate(lm.array(doc.get("package"), f"{where}: package")):
        raw = lm.table(raw, f"{where}: package[{index}]")
        name = lm.name(raw.get("name"), f"{where}: package[{index}].name")
        here = f"{where}: package {name}"
        node = _Node(name, lm.version(raw.get("version"), here),
                     lm.table(raw.get("source"), f"{here}: source"), raw)
        node.package = _package(node, here)
        nodes.append(node)
    by_name: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        by_name.setdefault(node.name, []).append(index)
    for node in nodes:
        here = f"{where}: package {node.name} {node.version or ''}".rstrip()
        node.dependencies = _edges(node.raw.get("dependencies"), nodes, by_name, here)
        node.optional = {extra: _edges(edges, nodes, by_name, f"{here} [{extra}]")
                         for extra, edges in
                         lm.table(node.raw.get("optional-dependencies"), here).items()}
        node.groups = {group: _edges(edges, nodes, by_name, f"{here} ({group})")
                       for group, edges in
                       lm.table(node.raw.get("dev-dependencies"), here).items()}
    return nodes


def _roots(doc: dict, nodes: list[_Node], where: str) -> list[int]:
    manifest = lm.table(doc.get("manifest"), f"{where}: manifest")
    members = {lm.name(m, f"{where}: manifest") for m in lm.array(manifest.get("members"), where)}
    roots = [i for i, n in enumerate(nodes)
             if (n.name in members if members else any(k in n.source for k in ROOT_SOURCES))]
    if not roots:
        raise MirrorInputError(f"{where}: no project of the workspace (virtual or editable "
                               "source) to start from")
    return roots


def parse(doc: dict, where: str) -> lm.Lock:
    """The Lock a uv.lock document describes (raises MirrorInputError)."""
    if doc.get("version") != VERSION:
        raise MirrorInputError(f"{where}: uv.lock version {doc.get('version')!r}: this mirror "
                               f"reads version {VERSION}")
    nodes = _nodes(doc, where)
    roots = _roots(doc, nodes, where)

    def installs(target: Target) -> list[lm.LockedPackage]:
        seen: set[tuple[int, frozenset[str]]] = set()
        pending = [(i, frozenset(nodes[i].optional), True) for i in roots]
        reached: dict[int, lm.LockedPackage] = {}
        while pending:
            index, extras, root = pending.pop()
            if (index, extras) in seen:
                continue
            seen.add((index, extras))
            node = nodes[index]
            if node.package is not None:
                reached[index] = node.package
            edges = list(node.dependencies)
            for extra in extras:
                edges += node.optional.get(extra, [])
            if root:
                edges += [e for group in node.groups.values() for e in group]
            pending += [(e.to, e.extras, False) for e in edges if lm.holds(e.marker, target)]
        return [reached[i] for i in sorted(reached)]

    registries = sorted({n.source["registry"] for n in nodes
                         if isinstance(n.source.get("registry"), str)})
    return lm.Lock(
        path=where, kind=KIND,
        packages=tuple(n.package for n in nodes if n.package is not None),
        registries=tuple(registries),
        requires_python=lm.specifier(doc.get("requires-python"), f"{where}: requires-python"),
        environments=tuple(lm.marker(m, f"{where}: supported-markers")
                           for m in lm.array(doc.get("supported-markers"), where)),
        installs=installs,
    )
