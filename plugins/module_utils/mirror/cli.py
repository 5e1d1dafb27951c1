"""Command-line entry point of the mirror engine (``scripts/pypi-mirror``).

Exit status: 0 complete, 1 some files or projects missing, 2 bad input, an unusable index or
no room on the disk (nothing changed).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from . import options
from .download import FileOutcome
from .engine import Options, Reporter, run
from .errors import MirrorError
from .targets import PLATFORMS


class BarReporter(Reporter):
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.total = 0
        self.count = 0
        self.done_files = 0
        self.received = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def phase(self, name: str) -> None:
        if name != "downloading":
            self.stream.write(f"\r\x1b[K{name}...")
            self.stream.flush()

    def start_downloads(self, count: int, total_bytes: int) -> None:
        self.count, self.total = count, total_bytes

    def advance(self, received: int) -> None:
        with self._lock:
            self.received += received
            now = time.monotonic()
            if now - self._last_draw >= 0.2:
                self._last_draw = now
                self._draw()

    def file_done(self, outcome: FileOutcome) -> None:
        with self._lock:
            self.done_files += 1
            self._draw()

    def _draw(self) -> None:
        width = 30
        fraction = min(1.0, self.received / self.total) if self.total else 0.0
        bar = "#" * int(width * fraction) + "-" * (width - int(width * fraction))
        rate = self.received / max(0.001, time.monotonic() - self.started)
        self.stream.write(
            f"\r\x1b[K[{bar}] {self.done_files}/{self.count} files "
            f"{self.received / 1e6:.1f}/{self.total / 1e6:.1f} MB {rate / 1e6:.1f} MB/s"
        )
        self.stream.flush()


def _releases(value: str):
    return value if value in ("latest", "all") else int(value)


_releases.__name__ = "--releases"  # argparse names the type in its error message


def build_parser() -> argparse.ArgumentParser:
    """Every engine option as a flag; defaults come from the options table, as the module's."""
    default = options.default
    platforms = "\n".join(f"  {name:<18} {p.description}" for name, p in sorted(PLATFORMS.items()))
    parser = argparse.ArgumentParser(
        prog="pypi-mirror",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Mirror selected projects (and their dependencies) from a simple index "
        "into a static PEP 503/691/658 index that pip and uv can use offline.",
        epilog=f"platform names (--platform):\n{platforms}\n\n"
        f"defaults: --python-version {' '.join(default('python_versions'))}; "
        f"--platform {' '.join(default('platforms'))}\n"
        "exit status: 0 complete, 1 something is missing, 2 bad input or a run that cannot "
        "start (nothing changed)",
    )
    parser.add_argument("requirements", nargs="*", metavar="REQUIREMENT",
                        help="requirement strings such as 'django>=4.2,<5' or requests")
    parser.add_argument("--dest", required=True, help="mirror directory (created if missing)")
    parser.add_argument("--index-url", default=default("index_url"))
    parser.add_argument("--extra-index-url", action="append", default=[], dest="extra_index_urls")
    parser.add_argument("-r", "--requirement", action="append", default=[], dest="files",
                        metavar="FILE", help="pip requirements file: -c constraints, --hash "
                        "and markers are used (repeatable)")
    parser.add_argument("--lock", action="append", default=[], dest="lock_files",
                        metavar="FILE", help="pylock.toml or uv.lock: mirror exactly the files it "
                        "names for the targets, checked against its hashes (repeatable)")
    parser.add_argument("--python-version", action="append", dest="python_versions",
                        metavar="X.Y", help="target Python version (repeatable)")
    parser.add_argument("--platform", action="append", dest="platforms", metavar="NAME",
                        help="target platform name (repeatable, see below)")
    parser.add_argument("--package-type", action="append", dest="package_types",
                        choices=options.BY_NAME["package_types"].choices,
                        help="file types (repeatable; default both: wheels, plus the sdist "
                        "where a target has no wheel)")
    parser.add_argument("--no-dependencies", action="store_true",
                        help="mirror only the named projects, not their dependency closure")
    parser.add_argument("--releases", default=default("releases"), type=_releases,
                        help="per project and target: latest (default), all, or a count N")
    parser.add_argument("--prereleases", action="store_true")
    parser.add_argument("--max-file-size", type=int, metavar="BYTES",
                        default=default("max_file_size"),
                        help="skip files announced bigger; cut off a file whose size is not "
                        "announced at this size (default %(default)s)")
    parser.add_argument("--max-page-size", type=int, metavar="BYTES",
                        default=default("max_page_size"),
                        help="refuse an index page bigger than this (default %(default)s)")
    parser.add_argument("--min-free-space", type=int, metavar="BYTES",
                        default=default("min_free_space"),
                        help="bytes to keep free on dest's disk (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=default("concurrency"))
    parser.add_argument("--timeout", type=float, default=default("timeout"),
                        help="seconds to connect, or to wait for the next bytes "
                        "(default %(default)s)")
    parser.add_argument("--retries", type=int, default=default("retries"),
                        help="attempts without progress before a file is given up "
                        "(default %(default)s)")
    parser.add_argument("--allowed-host", action="append", default=[], dest="allowed_hosts",
                        help="extra host files may be fetched from")
    parser.add_argument("--prune", action="store_true",
                        help="delete mirrored files that the selection no longer names")
    parser.add_argument("--allow-partial", action="store_true",
                        help="exit 0 even if some files could not be fetched")
    parser.add_argument("--check", action="store_true",
                        help="only report what would be downloaded; write nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    run_options = Options(
        dest=args.dest,
        packages=args.requirements,
        requirements_files=args.files,
        lock_files=args.lock_files,
        index_url=args.index_url,
        extra_index_urls=args.extra_index_urls,
        python_versions=args.python_versions or options.default("python_versions"),
        platforms=args.platforms or options.default("platforms"),
        package_types=args.package_types or options.default("package_types"),
        dependencies=not args.no_dependencies,
        releases=args.releases,
        prereleases=args.prereleases,
        max_file_size=args.max_file_size,
        max_page_size=args.max_page_size,
        min_free_space=args.min_free_space,
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        allowed_hosts=args.allowed_hosts,
        prune=args.prune,
    )
    reporter = BarReporter() if sys.stderr.isatty() else Reporter()
    try:
        result = run(run_options, check_mode=args.check, reporter=reporter)
    except MirrorError as exc:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K")
        print(f"pypi-mirror: error: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": str(exc), "complete": False, "changed": False}))
        return 2
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _print_summary(result)
    if result["complete"] or args.allow_partial:
        return 0
    return 1


def _print_summary(result: dict) -> None:
    out = sys.stderr
    if result["check_mode"]:
        would = result["would_download"]
        free = would["free_space"]
        room = "" if free is None else (
            f"; {free / 1e6:.1f} MB free on dest's disk"
            + ("" if would["fits"] else ": it does NOT fit with --min-free-space kept free"))
        print(f"would download {would['count']} files, {would['bytes'] / 1e6:.1f} MB{room}",
              file=out)
    else:
        print(
            f"{len(result['projects'])} projects, {result['files']} files: "
            f"{result['downloaded']['count']} downloaded "
            f"({result['downloaded']['bytes'] / 1e6:.1f} MB), "
            f"{result['present']['count']} already present, {result['missing']['count']} missing; "
            f"mirror size {result['mirror_size'] / 1e6:.1f} MB",
            file=out,
        )
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=out)
    for gap in result["uncovered"]:
        print(f"not covered: {gap['target']} by {gap['lock']}: {gap['reason']}", file=out)
    for rejected in result["rejected"]:
        print(f"rejected: {rejected['project']}: {rejected['reason']}", file=out)
    for failure in result["failures"]:
        print(f"FAILED: {failure['project']}: {failure['reason']}", file=out)
