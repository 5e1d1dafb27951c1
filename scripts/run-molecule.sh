#!/usr/bin/env bash
# Runs `molecule test` for each scenario given (all by default) on the Debian releases it covers,
# PIAB_MOLECULE_JOBS runs at a time (2 by default), each into its own log. Carries on past a
# failure so that one run reports every broken scenario, prints the time of each run, and exits
# non-zero if any failed.
#
#     scripts/run-molecule.sh [SCENARIO...]
#     PIAB_RELEASES=bookworm scripts/run-molecule.sh pypiserver    # these releases instead
#     eval "$(scripts/run-molecule.sh --env trixie)"; molecule converge -s pypiserver  # by hand
#
# What each release covers. Raspberry Pi OS is built on trixie today and on bookworm before,
# and both are on the cards people bring. `default` (the site playbook) and `fleet` run every
# role together, from nothing and again, on a real Debian of each release: what differs between
# releases (package names and versions, Python 3.11 or 3.13 in pypiserver's virtualenv and for
# the mirror engine, systemd) shows there. The single-role scenarios test each role's edge cases
# (bad input, config safety, clients, headers) that do not depend on the release, so they run
# once, on trixie, what an organizer flashes today.
set -uo pipefail
cd "$(dirname "$0")/.."
# Molecule calls ansible-config through PATH: the project's virtualenv first.
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$PWD/collections}

BOTH_RELEASES=" default fleet "
# Each release's own fixed subnets, so runs side by side never collide (nor with runs under the
# names of before, which used 10.242/10.243). Each run gets a controller-side port of its own
# for an upstream (PIAB_UPSTREAM_PORT: UPSTREAM_PORT_BASE + the run's place in the list; by
# hand, --env gives the release's own), since several scenarios serve one on the controller.
declare -A NET_PREFIX=([bookworm]=10.244 [trixie]=10.245)
declare -A UPSTREAM_PORT=([bookworm]=18441 [trixie]=18442)
UPSTREAM_PORT_BASE=18450
JOBS=${PIAB_MOLECULE_JOBS:-2}
LOG_DIR=$PWD/.cache/molecule-logs

log() { echo "run-molecule: $*" >&2; }

releases_of() {
    if [[ -n ${PIAB_RELEASES:-} ]]; then
        echo "$PIAB_RELEASES"
    elif [[ $BOTH_RELEASES == *" $1 "* ]]; then
        echo bookworm trixie
    else
        echo trixie
    fi
}

# The environment the scenario files read (.config/molecule/config.yml says which), as shell.
release_env() {
    local release=$1 image python machine wheels
    [[ -n ${NET_PREFIX[$release]:-} ]] || { log "unknown release '$release'"; return 2; }
    image=$(scripts/build-base-image.sh "$release") || return 1
    # The clients run this image: its Python and CPU decide the mirror selection and wheels.
    read -r python machine < <(docker run --rm "$image" python3 -c \
        'import platform, sys; print("%d.%d" % sys.version_info[:2], platform.machine())')
    [[ -n ${machine:-} ]] || { log "cannot run python3 in $image"; return 1; }
    wheels=$(scripts/fetch-wheels.sh "$python" "$machine") || return 1
    .venv/bin/python tests/support/fetch_fixtures.py "$python" >/dev/null || return 1
    printf 'export %s=%q\n' PIAB_RELEASE "$release" PIAB_IMAGE "$image" \
        PIAB_CLIENT_PYTHON "$python" PIAB_CLIENT_MACHINE "$machine" PIAB_WHEELS_DIR "$wheels" \
        PIAB_NET_PREFIX "${NET_PREFIX[$release]}" PIAB_UPSTREAM_PORT "${UPSTREAM_PORT[$release]}"
}

if [[ ${1:-} == --env ]]; then
    release_env "${2:-trixie}"
    exit
fi

scenarios=("$@")
if ((${#scenarios[@]} == 0)); then
    for file in molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$file")")"); done
fi

# Runs as "scenario release", the ones on both releases (the longest) first, so the last to
# start are short.
runs=()
for pass in both one; do
    for scenario in "${scenarios[@]}"; do
        read -ra releases <<< "$(releases_of "$scenario")"
        if [[ $pass == both && ${#releases[@]} -gt 1 ]] || [[ $pass == one && ${#releases[@]} -eq 1 ]]; then
            for release in "${releases[@]}"; do runs+=("$scenario $release"); done
        fi
    done
done

mkdir -p "$LOG_DIR"
declare -A env_file=()
for run in "${runs[@]}"; do
    release=${run#* }
    [[ -n ${env_file[$release]:-} ]] && continue
    env_file[$release]=$LOG_DIR/env-$release.sh
    log "preparing $release: image, the clients' Python, wheels, fixtures"
    release_env "$release" > "${env_file[$release]}" || { log "cannot prepare $release"; exit 1; }
done

run_one() {  # scenario release port: molecule test, into its log
    local scenario=$1 release=$2
    # shellcheck disable=SC1090
    source "${env_file[$release]}"
    export PIAB_UPSTREAM_PORT=$3
    # Molecule's own state (inventory, instance list) per run, not per scenario.
    export MOLECULE_EPHEMERAL_DIRECTORY=$PWD/.cache/molecule-state/$scenario-$release
    # Plain text: the log is a file, read later or printed on a failure.
    export NO_COLOR=1
    molecule test -s "$scenario" > "$LOG_DIR/$scenario-$release.log" 2>&1
}

declare -A started=() pid_run=()
passed=()
failed=()
finish() {  # pid status
    local run=${pid_run[$1]} seconds
    seconds=$((SECONDS - started[$1]))
    if (($2 == 0)); then
        passed+=("$run:$seconds")
        echo "=== ${run/ /-} passed in $seconds s"
    else
        failed+=("$run:$seconds")
        echo "=== ${run/ /-} FAILED after $seconds s; its log (${LOG_DIR#"$PWD"/}/${run/ /-}.log):"
        sed 's/^/    /' "$LOG_DIR/${run/ /-}.log"
    fi
    unset "pid_run[$1]"
}

start=$SECONDS
for index in "${!runs[@]}"; do
    run=${runs[$index]}
    while ((${#pid_run[@]} >= JOBS)); do
        wait -n -p done_pid "${!pid_run[@]}"
        finish "$done_pid" $?
    done
    echo "=== molecule scenario ${run/ /-} (log: ${LOG_DIR#"$PWD"/}/${run/ /-}.log)"
    # shellcheck disable=SC2086
    run_one $run $((UPSTREAM_PORT_BASE + index)) &
    pid_run[$!]=$run
    started[$!]=$SECONDS
done
while ((${#pid_run[@]})); do
    wait -n -p done_pid "${!pid_run[@]}"
    finish "$done_pid" $?
done

echo "molecule: ${#passed[@]} passed, ${#failed[@]} failed, in $((SECONDS - start)) s with $JOBS at a time"
for result in "${passed[@]}" "${failed[@]}"; do
    run=${result%:*}
    printf '  %-28s %5d s\n' "${run/ /-}" "${result##*:}"
done > "$LOG_DIR/times.txt"
cat "$LOG_DIR/times.txt"
if ((${#failed[@]})); then
    echo "failed: ${failed[*]%%:*}"
    exit 1
fi
