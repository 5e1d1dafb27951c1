#!/usr/bin/env bash
# Fetches the demo/test wheel set once into .cache/wheels (for the box's CPU and Python 3.11,
# Debian bookworm's) so that tests and the demo never touch the public index afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/wheels
stamp="$dest/.complete-$(sha256sum scripts/demo-wheels.txt | cut -c1-12)"
[ -f "$stamp" ] && exit 0
mkdir -p "$dest"
case "$(uname -m)" in
    x86_64) platform=x86_64 ;;
    aarch64) platform=aarch64 ;;
    *) echo "fetch-wheels: unsupported CPU $(uname -m)" >&2; exit 1 ;;
esac
# --no-deps: the list is already the full closure, pinned.
"${PIP:-.venv/bin/pip}" download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    --platform "manylinux2014_${platform}" --platform "manylinux_2_17_${platform}" \
    --platform "manylinux_2_28_${platform}" --platform any \
    -d "$dest" -r scripts/demo-wheels.txt
touch "$stamp"
