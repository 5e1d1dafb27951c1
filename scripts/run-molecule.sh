#!/usr/bin/env bash
# Runs `molecule test` for each scenario given (all by default), carrying on past a failure so
# one run reports every broken scenario, then exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${PIAB_IMAGE:?set PIAB_IMAGE to the base image (scripts/build-base-image.sh prints it)}"
export PIAB_IMAGE

scenarios=("$@")
if ((${#scenarios[@]} == 0)); then
    for file in molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$file")")"); done
fi

passed=0
failed=()
for scenario in "${scenarios[@]}"; do
    echo "=== molecule scenario: $scenario"
    start=$SECONDS
    if molecule test -s "$scenario"; then
        passed=$((passed + 1))
        echo "=== $scenario passed in $((SECONDS - start)) s"
    else
        failed+=("$scenario")
        echo "=== $scenario FAILED after $((SECONDS - start)) s"
    fi
done

echo "molecule: ${passed} passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
    echo "failed scenarios: ${failed[*]}"
    exit 1
fi
