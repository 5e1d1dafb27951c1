"""Exceptions of the mirror engine.

The split matters to callers: ``MirrorInputError`` means the request itself is wrong and nothing
was touched (CLI exit 2, module failure before any change); ``UpstreamError`` means the index
could not be used at all.
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
    """A file could not be fetched and verified after all retries."""
