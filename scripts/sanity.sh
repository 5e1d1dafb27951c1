#!/usr/bin/env bash
# `ansible-test sanity` on the collection (validate-modules: each module's DOCUMENTATION against
# the argument_spec it really passes, defaults and types included). Called by `make lint`.
#
# ansible-test wants to run from .../ansible_collections/<namespace>/<name>, which this
# checkout is not, so the tracked files are staged into such a tree first. It installs the
# test's requirements into a virtualenv of its own, which it seeds with a pip bootstrap script
# from ci-files.testing.ansible.com; where that host is out of reach (CI here), a stand-in that
# uses the Python's own ensurepip is put where ansible-test looks for its cached copy.
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=${PIAB_SANITY_TESTS:-validate-modules}
PYTHON_VERSION=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tree="$stage/ansible_collections/pypi_in_a_box/pi"
mkdir -p "$tree"
# Tracked and new files alike (what `git add` would take), not what .gitignore leaves out;
# not collections/, whose link back to this checkout would make the staged tree a loop.
git ls-files -z --cached --others --exclude-standard -- . ':!collections' |
    while IFS= read -r -d '' file; do
        if [[ -e $file ]]; then cp -P --parents -- "$file" "$tree/"; fi
    done

run() {
    (cd "$tree" && ansible-test sanity --color no --python "$PYTHON_VERSION" --local \
        --requirements $(printf -- '--test %s ' $TESTS) 2>&1)
}

if ! output=$(run); then
    bootstrap=$(sed -n 's/^The bootstrap script can be manually downloaded and saved to: //p' \
        <<<"$output")
    if [[ -z $bootstrap ]]; then
        printf '%s\n' "$output"
        exit 1
    fi
    echo "sanity: ansible-test's pip bootstrap is out of reach; using ensurepip instead" >&2
    mkdir -p "$(dirname "$bootstrap")"
    # ensurepip in its own process: it empties PIP_* and pip's config for the process it runs
    # in, and the second pip must see the machine's pip configuration (proxy, CA).
    cat > "$bootstrap" <<'PYTHON'
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PYTHON
    output=$(run) || { printf '%s\n' "$output"; exit 1; }
fi
grep -v -e '^Installing requirements' -e '^Using cached pip' -e 'Location .* is ignored' \
    <<<"$output" | tail -n 5
