"""Exceptions of the mirror engine.

The split matters to callers: ``MirrorInputError`` means the request itself is wrong and nothing
was touched (CLI exit 2, module failure before any change); ``UpstreamError`` means the index
could not be used at all; ``NoRoom`` that the selection does not fit on the disk (nothing
written either). The others describe one project or file: the run records them in its
``failures`` and carries on.
"""

from __future__ import annotations


class MirrorError(Exception):
    """Base class of all errors the engine raises on purpose."""


class MirrorInputError(MirrorError):
    """The options are invalid (bad requirement, unknown platform, impossible Python...)."""


class UpstreamError(MirrorError):
    """An index could not be reached or answered something unusable."""


class UnsafeUpstreamData(MirrorError):
    """The upstream announced something we refuse to store (hostile filename, foreign host...)."""


class DownloadError(MirrorError):
    """A request (page, metadata or file) failed after its retries, or was refused."""


class MetadataError(MirrorError):
    """A distribution's metadata could not be read (not an archive, missing, too big)."""


class NoRoom(MirrorError):
    """What is left to download does not fit on the mirror's disk (keeping the reserve)."""
