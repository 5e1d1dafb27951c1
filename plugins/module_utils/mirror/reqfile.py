"""pip requirements files, read as pip reads them, for a mirror.

Everything pip accepts in such a file is used, refused with the reason, or (options that only
change how the installing client behaves) reported as a note; nothing is dropped silently:

- requirement lines, their environment markers (evaluated per target by the closure) and their
  ``--hash`` options (kept: the mirror checks the files against them, ``constraints``);
- ``-r``/``--requirement`` and ``-c``/``--constraint``: nested files, relative to the file
  that names them (``-r`` gives requirements even inside a constraints file, as in pip);
  constraints apply to every target and to every edge of the closure;
- ``-i``/``--index-url`` and ``--extra-index-url``: kept for the engine, which refuses an index
  it does not read;
- ``--pre`` and ``--all-releases :all:``: pre-releases are considered;
- ``--require-hashes``, and hashes on any line (pip's hash-checking mode): every requirement
  must then carry hashes and be pinned with ``==``, as pip requires;
- refused, saying why a mirror cannot serve them: ``-e``, URL and path requirements,
  ``--no-index``, ``-f``/``--find-links``, nested files given as URLs, ``${VARIABLES}``.

Lines are joined and comments stripped by pip's rules; options are split off a requirement line
where pip splits them (the first word starting with ``-``), so markers are never shell-split.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from .errors import MirrorInputError
from .names import is_sha256

# Options that may follow a requirement on its line; any other belongs on a line of its own.
PER_REQUIREMENT = ("hashes", "config_settings")
ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
WHY_BY_NAME = (
    "a mirror serves distributions by project name from its index, so attendees' installs "
    "would still reach for that location; publish it on an index (or upload it to the box "
    "with twine) and require it by name"
)


@dataclass(frozen=True)
class Line:
    """One requirement or constraint, where it was written, and the sha256 hashes it allows."""

    requirement: Requirement
    origin: str  # "path:line"
    hashes: frozenset[str] = frozenset()


@dataclass
class RequirementsInput:
    """What a set of requirements files asks of the mirror."""

    requirements: list[Line] = field(default_factory=list)
    constraints: list[Line] = field(default_factory=list)
    index_urls: list[tuple[str, str]] = field(default_factory=list)  # (origin, URL)
    prereleases: bool = False
    require_hashes: str | None = None  # where hash-checking mode was switched on
    notes: list[str] = field(default_factory=list)  # options only the client acts on
    files: list[Path] = field(default_factory=list)  # every file read, nested ones as named


# Options of an option line a mirror cannot act on, and why.
REFUSED = {
    "hashes": "--hash without a requirement (pip ignores it); put it on the requirement's line",
    "editables": "-e {value}: an editable install is the attendee's own checkout, built from "
                 "their disk, which a mirror cannot serve; leave it out of the file given to the "
                 "mirror (uv export --no-emit-project leaves out the project itself)",
    "no_index": "--no-index: the mirror reads an index; a file that turns the index off cannot "
                "say what to mirror",
    "find_links": "--find-links {value}: a mirror reads simple indexes, not pages or directories "
                  "of links; put those files on an index (extra_index_urls) or upload them to "
                  "the box with twine",
}


class _Refused(Exception):
    pass


class _OptionParser(argparse.ArgumentParser):
    """pip's requirements-file options; an unknown option or a missing value raises."""

    def error(self, message: str):
        raise _Refused(message)


def _option_parser() -> _OptionParser:
    parser = _OptionParser(prog="", add_help=False, allow_abbrev=False)
    add = parser.add_argument
    add("-r", "--requirement", dest="requirements", action="append", default=[])
    add("-c", "--constraint", dest="constraints", action="append", default=[])
    add("-e", "--editable", dest="editables", action="append", default=[])
    add("-i", "--index-url", dest="index_url")
    add("--extra-index-url", dest="extra_index_urls", action="append", default=[])
    add("--no-index", action="store_true")
    add("-f", "--find-links", action="append", default=[])
    add("--pre", action="store_true")
    add("--all-releases", action="append", default=[])
    add("--only-final", action="append", default=[])
    add("--require-hashes", action="store_true")
    add("--no-require-hashes", action="store_true")
    add("--trusted-host", action="append", default=[])
    add("--prefer-binary", action="store_true")
    add("--only-binary", action="append", default=[])
    add("--no-binary", action="append", default=[])
    add("--use-feature", action="append", default=[])
    add("--hash", dest="hashes", action="append", default=[])
    add("-C", "--config-settings", dest="config_settings", action="append", default=[])
    return parser


_PARSER = _option_parser()


# -- lines --------------------------------------------------------------------------------
def _strip_comment(line: str) -> str:
    """pip's rule: a comment starts at a '#' that begins the line or follows whitespace."""
    start = line.find("#")
    while start >= 0:
        if start == 0 or line[start - 1].isspace():
            return line[:start]
        start = line.find("#", start + 1)
    return line


def _is_comment(line: str) -> bool:
    return _strip_comment(line).strip() == "" and "#" in line


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first physical line number, line) after pip's joining of '\\' continuations (a comment
    line is never continued) and comment stripping; empty lines are skipped."""
    joined: list[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.endswith("\\") and not _is_comment(raw):
            if not joined:
                first = number
            joined.append(raw.strip("\\"))
            continue
        if joined:
            joined.append(raw if not _is_comment(raw) else "")
            line, number = "".join(joined), first
            joined = []
        else:
            line = raw
        line = _strip_comment(line).strip()
        if line:
            yield number, line
    if joined:
        line = _strip_comment("".join(joined)).strip()
        if line:
            yield first, line


def split_options(line: str) -> tuple[str, str]:
    """pip's split of a line: the words before the first one starting with '-', the rest."""
    words = line.split(" ")
    for index, word in enumerate(words):
        if word.startswith("-"):
            return " ".join(words[:index]).strip(), " ".join(words[index:])
    return line.strip(), ""


# -- requirements ------------------------------------------------------------------------------
def _looks_like_location(text: str) -> bool:
    """True for what pip would take as a URL or a path rather than a project name."""
    scheme = urlsplit(text).scheme
    if len(scheme) > 1:  # "c:" is a Windows drive, not a scheme
        return True
    head = text.split(";", 1)[0].strip()
    return ("/" in head or "\\" in head or head.startswith(".")
            or head.lower().endswith(ARCHIVE_SUFFIXES))


def parse_requirement(text: str, origin: str) -> Requirement:
    """A named requirement (PEP 508); URL, path and invalid ones are refused, saying why."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        if _looks_like_location(text):
            raise MirrorInputError(
                f"{origin}: {text!r} is a URL or path requirement, which a mirror cannot serve: "
                f"{WHY_BY_NAME}") from None
        raise MirrorInputError(f"{origin}: invalid requirement {text!r}: {exc}") from None
    if requirement.url:
        raise MirrorInputError(
            f"{origin}: {text!r} is a direct URL reference, which a mirror cannot serve: "
            f"{WHY_BY_NAME}")
    return requirement


def _sha256_values(values: Sequence[str], origin: str) -> frozenset[str]:
    hashes = set()
    for value in values:
        algorithm, _, digest = value.partition(":")
        digest = digest.lower()
        if algorithm.lower() != "sha256":
            raise MirrorInputError(
                f"{origin}: --hash={value}: the mirror checks sha256, the hash every index "
                "publishes (and uv and pip-compile write); give the sha256 hashes")
        if not is_sha256(digest):
            raise MirrorInputError(
                f"{origin}: --hash={value} is not a sha256 hash (sha256: and 64 hex digits)")
        hashes.add(digest)
    return frozenset(hashes)


def is_pinned(requirement: Requirement) -> bool:
    """``==X`` or ``===X`` exactly (pip's condition for hash-checking mode)."""
    specs = list(requirement.specifier)
    return (len(specs) == 1 and specs[0].operator in ("==", "===")
            and not specs[0].version.endswith(".*"))


# -- files --------------------------------------------------------------------------------------
class _Reader:
    def __init__(self) -> None:
        self.result = RequirementsInput()
        self._chain: list[Path] = []  # the files being read, each named by the one before

    def read(self, path: Path, constraint: bool, named_at: str | None = None) -> None:
        where = f"{named_at}: " if named_at else ""
        if path.resolve() in self._chain:
            raise MirrorInputError(f"{where}{path} includes itself (through "
                                   f"{' -> '.join(map(str, self._chain))}), as pip refuses too")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise MirrorInputError(f"{where}requirements file {path}: {reason}") from None
        self._chain.append(path.resolve())
        self.result.files.append(path)
        for number, line in logical_lines(text):
            self._line(path, f"{path}:{number}", line, constraint)
        self._chain.pop()

    def _line(self, path: Path, origin: str, line: str, constraint: bool) -> None:
        if "${" in line:
            raise MirrorInputError(
                f"{origin}: {line!r}: pip expands ${{VARIABLES}} from the environment of the "
                "machine that installs; the mirror runs elsewhere, so write the value itself")
        text, option_text = split_options(line)
        try:
            options = _PARSER.parse_args(shlex.split(option_text))
        except (_Refused, ValueError) as exc:
            raise MirrorInputError(f"{origin}: {option_text!r}: {exc}") from None
        given = {name for name, value in vars(options).items() if value}
        if text:
            self._requirement(origin, text, option_text, options, given, constraint)
        else:
            self._options(path, origin, options, constraint)

    def _requirement(self, origin: str, text: str, option_text: str, options, given: set[str],
                     constraint: bool) -> None:
        if given - set(PER_REQUIREMENT):
            raise MirrorInputError(
                f"{origin}: only --hash and --config-settings may follow a requirement (pip "
                f"ignores other options there); put {option_text!r} on a line of its own")
        requirement = parse_requirement(text, origin)
        hashes = _sha256_values(options.hashes, origin)
        if options.config_settings:
            self.result.notes.append(
                f"{origin}: --config-settings only changes how a client builds "
                f"{requirement.name}; the mirror does not use it")
        if constraint and (requirement.extras or requirement.url):
            raise MirrorInputError(
                f"{origin}: a constraint is a project name, a version specifier and a marker "
                f"only (pip refuses extras in {text!r})")
        entry = Line(requirement, origin, hashes)
        (self.result.constraints if constraint else self.result.requirements).append(entry)

    def _options(self, path: Path, origin: str, options, constraint: bool) -> None:
        result = self.result
        for dest, why in REFUSED.items():
            value = getattr(options, dest)
            if value:
                first = value[0] if isinstance(value, list) else value
                raise MirrorInputError(f"{origin}: {why.format(value=first)}")
        for nested in options.requirements:  # requirements, even from a constraints file (pip)
            self.read(self._nested(path, origin, nested), False, origin)
        for nested in options.constraints:
            self.read(self._nested(path, origin, nested), True, origin)
        if options.index_url:
            result.index_urls.append((origin, options.index_url))
        result.index_urls += [(origin, url) for url in options.extra_index_urls]
        if options.pre:
            result.prereleases = True
        for value in options.all_releases:
            if value != ":all:":
                raise MirrorInputError(
                    f"{origin}: --all-releases {value}: the mirror considers pre-releases for "
                    "all projects or none; use --pre (or the prereleases option)")
            result.prereleases = True
        if options.require_hashes:
            result.require_hashes = result.require_hashes or f"--require-hashes at {origin}"
        result.notes += [f"{origin}: {note}" for note in _client_only(options)]

    @staticmethod
    def _nested(path: Path, origin: str, name: str) -> Path:
        if len(urlsplit(name).scheme) > 1:
            raise MirrorInputError(
                f"{origin}: {name}: the mirror reads requirements files from disk, not URLs; "
                "download it beside this file and name it here")
        return path.parent / name


def _client_only(options) -> Iterable[str]:
    """Notes for options that only concern how the installing client behaves."""
    for host in options.trusted_host:
        yield (f"--trusted-host {host} concerns the clients' TLS checks; the mirror checks "
               "https as usual and fetches http indexes without it")
    if options.prefer_binary or options.only_binary:
        yield ("--prefer-binary / --only-binary: the mirror keeps wheels wherever a target has "
               "one already")
    for names in options.no_binary:
        yield (f"--no-binary {names}: clients that build these from source need their sdists, "
               "which the mirror keeps only where a target has no wheel (package_types)")
    for feature in options.use_feature:
        yield f"--use-feature {feature} changes pip on the clients only"
    for value in options.only_final:
        yield f"--only-final {value}: pre-releases follow the mirror's prereleases option"
    if options.no_require_hashes:
        yield ("--no-require-hashes: the mirror still checks every hash that a requirement "
               "gives")


def _check_hash_mode(result: RequirementsInput) -> None:
    """pip's hash-checking mode: on with --require-hashes or any hash; every requirement then
    needs hashes and an ``==`` pin, or pip refuses to install."""
    hashed = next((line for line in result.requirements if line.hashes), None)
    switched_on = result.require_hashes or (hashed and f"the hashes at {hashed.origin}")
    if not switched_on:
        return
    for line in result.requirements:
        if not line.hashes:
            raise MirrorInputError(
                f"{line.origin}: {line.requirement} has no --hash, but {switched_on} put pip in "
                "hash-checking mode, where every requirement needs one")
        if not is_pinned(line.requirement):
            raise MirrorInputError(
                f"{line.origin}: {line.requirement} has hashes but no ==pin; pip's "
                "hash-checking mode installs only pinned requirements")


def files_to_copy(path: Path | str) -> list[tuple[Path, str]]:
    """(file, its path relative to ``path``'s folder) of ``path`` and every file it names with
    -r or -c, for a copy elsewhere in which those names still resolve. Refuses a file outside
    that folder, which a copy cannot keep at the same relative place. Raises MirrorInputError
    like read_requirements_files, which it runs: a bad file fails before it is copied."""
    top = Path(path)
    found = []
    for file in read_requirements_files([top]).files:
        relative = Path(os.path.normpath(os.path.relpath(file, top.parent)))
        if relative.parts[:1] == ("..",):
            raise MirrorInputError(
                f"{os.path.normpath(file)}, named in {top}, is not in {top.parent}: put it "
                f"beside {top.name} (or below it) and name it by a relative path, so that a "
                "copy keeps them together")
        if (file, relative.as_posix()) not in found:
            found.append((file, relative.as_posix()))
    return found


def read_requirements_files(paths: Iterable[Path | str]) -> RequirementsInput:
    """Everything a set of requirements files asks (raises MirrorInputError)."""
    reader = _Reader()
    for path in paths:
        reader.read(Path(path), constraint=False)
    _check_hash_mode(reader.result)
    return reader.result
