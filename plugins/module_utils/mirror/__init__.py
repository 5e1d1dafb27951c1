"""The pypi_mirror engine: a filtered, dependency-complete, resumable mirror of a simple index.

One module per job, in the order a run uses them:

- ``errors``     exceptions that separate bad input (nothing touched) from upstream trouble;
- ``options``    every option's type and default, once (the module and the CLI are built from it);
- ``layout``     the mirror's directories and file names on disk, named once;
- ``names``      checks on outside names and hashes (filenames that become paths, sha256);
- ``targets``    target environments (Python version x platform): tags and marker environments;
- ``reqfile``    pip requirements files, read as pip reads them (markers, hashes, -r, -c, ...);
- ``selection``  the allow-list filters that pick a project's releases and files per target;
- ``constraints`` constraints and hashes from requirements files, applied on every edge;
- ``transport``  the one HTTP layer: session, redirect checks, byte bounds, deadlines, retries;
- ``upstream``   the index client (PEP 691 JSON, PEP 503 HTML fallback), untrusted input checks;
- ``metadata``   core metadata parsing and extraction from wheels;
- ``closure``    the dependency closure per target;
- ``lockmodel``  what a lock file names, per target; ``pylock`` (PEP 751) and ``uvlock`` read
  the two formats into it, ``lockfiles`` tells them apart;
- ``lockselect`` the selection for lock files: exactly their files, checked against the index;
- ``lockserve``  a lock rewritten to install from the box (served by the nginx_cache role);
- ``download``   the resumable, verifying, parallel downloader;
- ``index``      the static PEP 503/691/658 index writer and the mirror's own state records;
- ``fsutil``     atomic writes, hard links into place, hashing and the run lock;
- ``engine``     one run: options -> validated plan -> selection -> room check -> downloads ->
  index -> result summary;
- ``cli``        the command-line entry point (``scripts/pypi-mirror``);
- ``module_result`` how the modules end: failures fail the task unless allow_partial;
- ``tools``      uv (repacked from its wheels) and Python builds for attendees, beside the mirror;
- ``tool_records`` their platforms, and the records of what ``uv/`` and ``python/`` hold;
- ``sync``       a fleet box's side: verify a mirror rsync'd from the controller and publish it;
- ``private_index`` the same static index for pypiserver's package directory, and the box's root
  page (runs on the box, copied there by the nginx_cache role).
"""
