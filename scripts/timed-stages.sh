#!/usr/bin/env bash
# `make test`: runs `make STAGE` for each stage given, in order, stopping at the first that
# fails, and prints at the end the time each took, with each Molecule run's time
# (scripts/run-molecule.sh writes them), whether the stages passed or not.
set -uo pipefail
cd "$(dirname "$0")/.."
MOLECULE_TIMES=.cache/molecule-logs/times.txt

lines=()
status=0
start=$SECONDS
started_at=$(date +%s)
for stage in "$@"; do
    echo "=== make $stage"
    stage_start=$SECONDS
    make --no-print-directory "$stage"
    status=$?
    lines+=("$(printf '  %-10s %5d s  %s' "$stage" $((SECONDS - stage_start)) \
        "$( ((status)) && echo FAILED || echo passed)")")
    ((status)) && break
done

echo "=== make test: time per stage on $(nproc) CPUs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${lines[@]}"
if [[ -f $MOLECULE_TIMES ]] && (($(stat -c %Y "$MOLECULE_TIMES") >= started_at)); then
    echo "  molecule runs:"
    sed 's/^/  /' "$MOLECULE_TIMES"
fi
printf '  %-10s %5d s (%d min)\n' total $((SECONDS - start)) $(((SECONDS - start) / 60))
exit $status
