"""The pypi_mirror engine: a filtered, dependency-complete, resumable mirror of a simple index.

One module per job, in the order a run uses them:

- ``errors``     exceptions that separate bad input (nothing touched) from upstream trouble;
- ``names``      checks on outside names and hashes (filenames that become paths, sha256);
- ``targets``    target environments (Python version x platform): tags and marker environments;
- ``selection``  requirements parsing and the allow-list filters that pick releases and files;
- ``upstream``   the index client (PEP 691 JSON, PEP 503 HTML fallback), untrusted input checks;
- ``metadata``   core metadata parsing and extraction from wheels;
- ``closure``    the dependency closure per target;
- ``download``   the resumable, verifying, parallel downloader;
- ``index``      the static PEP 503/691/658 index writer and the mirror's own state records;
- ``fsutil``     atomic writes, hard links into place, hashing and the run lock;
- ``engine``     one run from options to a result summary;
- ``cli``        the command-line entry point (``scripts/pypi-mirror``);
- ``module_result`` how the modules end: failures fail the task unless allow_partial;
- ``tools``      uv (repacked from its wheels) and Python builds for attendees, beside the mirror;
- ``tool_records`` their platforms, and the records of what ``uv/`` and ``python/`` hold;
- ``sync``       a fleet box's side: verify a mirror rsync'd from the controller and publish it;
- ``private_index`` the same static index for pypiserver's package directory, and the box's root
  page (runs on the box, copied there by the nginx_cache role).
"""
