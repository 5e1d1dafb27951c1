#!/usr/bin/env bash
# Fetches the demo/test wheel set (scripts/demo-wheels.txt) once for one client Python and CPU,
# so that tests and the demo never touch the public index afterwards, and prints its directory.
#
#     scripts/fetch-wheels.sh PYTHON MACHINE      e.g. 3.13 x86_64 -> .cache/wheels/3.13-x86_64
#
# Per Python and CPU because the set has compiled wheels (markupsafe, charset-normalizer):
# pypiserver seeds them and clients install them, so they must match the clients: the test
# clients run the box's image (scripts/run-molecule.sh asks it), the demo's run on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:?usage: fetch-wheels.sh PYTHON MACHINE (e.g. 3.13 x86_64)}
machine=${2:?usage: fetch-wheels.sh PYTHON MACHINE (e.g. 3.13 x86_64)}
[[ $python =~ ^3\.[0-9]+$ ]] || { echo "fetch-wheels: '$python' is not a Python version such as 3.13" >&2; exit 2; }
case $machine in
    x86_64|aarch64) ;;
    *) echo "fetch-wheels: unsupported CPU '$machine' (x86_64 or aarch64)" >&2; exit 2 ;;
esac
dest=$PWD/.cache/wheels/$python-$machine
stamp="$dest/.complete-$(sha256sum scripts/demo-wheels.txt | cut -c1-12)"
if [[ ! -f $stamp ]]; then
    mkdir -p "$dest"
    # --no-deps: the list is already the full closure, pinned.
    "${PIP:-.venv/bin/pip}" download --quiet --no-deps --only-binary=:all: \
        --python-version "$python" --implementation cp --abi "cp${python/./}" --abi abi3 --abi none \
        --platform "manylinux2014_${machine}" --platform "manylinux_2_17_${machine}" \
        --platform "manylinux_2_28_${machine}" --platform any \
        -d "$dest" -r scripts/demo-wheels.txt >&2
    touch "$stamp"
fi
echo "$dest"
