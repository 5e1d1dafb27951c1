#!/usr/bin/env bash
# `make demo`: a PyPI in a box in a local container, provisioned by the real site playbook,
# loaded with the demo wheels, and reachable from this machine at http://127.0.0.1:$DEMO_PORT.
# `scripts/demo.sh --destroy` removes it again. The box runs Debian PIAB_RELEASE: trixie by
# default, what Raspberry Pi OS is built on today (bookworm for the one before).
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${PIAB_DEMO_NAME:-pypi-in-a-box-demo}
DEMO_PORT=${PIAB_DEMO_PORT:-3141}
STATE_DIR=.cache/demo

if [[ ${1:-} == --destroy ]]; then
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    rm -rf "$STATE_DIR"
    echo "demo box removed"
    exit 0
fi

PIAB_IMAGE=$(scripts/build-base-image.sh "${PIAB_RELEASE:-trixie}")
# The seed wheels for this machine's Python and CPU: the commands printed below install them here.
wheels=$(scripts/fetch-wheels.sh "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    "$(uname -m)")
mkdir -p "$STATE_DIR"

if ! docker container inspect "$NAME" >/dev/null 2>&1; then
    # The same systemd-as-PID-1 settings as the Molecule platform (.config/molecule/config.yml).
    mapfile -t run_box < <(.venv/bin/python tests/support/box_container.py \
        "$NAME" pi-box "" "$PIAB_IMAGE" -p "127.0.0.1:${DEMO_PORT}:80")
    "${run_box[@]}" >/dev/null
fi
for _ in $(seq 30); do
    state=$(docker exec "$NAME" systemctl is-system-running 2>/dev/null || true)
    [[ $state == running || $state == degraded ]] && break
    sleep 1
done

# A demo upload password, made once and kept beside the demo's inventory.
password_file="$STATE_DIR/upload-password"
[[ -s $password_file ]] || python3 -c 'import secrets; print(secrets.token_urlsafe(12))' > "$password_file"
chmod 600 "$password_file"

cat > "$STATE_DIR/inventory.yml" <<INVENTORY
all:
  hosts:
    ${NAME}:
      ansible_connection: community.docker.docker
      ansible_python_interpreter: /usr/bin/python3
      # The container has no radio: hostapd is configured but not started.
      access_point_passphrase: demo-passphrase
      pypiserver_seed_wheels_dir: "$wheels"
      pypiserver_users:
        - name: demo
          password: "{{ lookup('ansible.builtin.file', '$PWD/$password_file') }}"
INVENTORY

ansible-playbook site.yml -i "$STATE_DIR/inventory.yml"

url="http://127.0.0.1:${DEMO_PORT}"
cat <<DONE

PyPI in a box is running in the container '$NAME'.
  Landing page:  $url/
  Install:       pip install --index-url $url/simple/ requests flask
                 uv pip install --index-url $url/simple/ requests flask
  Upload:        twine upload --repository-url $url/ -u demo -p "\$(cat $password_file)" dist/*
  Remove it:     make demo-destroy
DONE
