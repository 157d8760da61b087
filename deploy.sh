#!/usr/bin/env bash
# The release control plane's one entry point for set-up:
#   ./deploy.sh local [down]   run the control plane on this machine against the emulators
#   ./deploy.sh local canary [down]  a second local stack for the canary demo (docs/CANARY.md)
#   ./deploy.sh test [ARGS]    run the whole test suite (ARGS go to pytest)
#   ./deploy.sh gcp …          deploy to Google Cloud (see docs/DEPLOY.md)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

die() { echo "deploy.sh: $*" >&2; exit 2; }

usage() {
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
}

# Create .venv and install the project (with its dev extras) when missing or out of date.
ensure_venv() {
  command -v python3 >/dev/null || die "python3 not found: install Python 3.11+"
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
  fi
  local stamp="$VENV/.installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    "$PY" -m pip install --quiet -e "${ROOT}[dev]"
    touch "$stamp"
  fi
}

require_emulator_tools() {
  command -v java >/dev/null \
    || die "java not found: the emulators need Java 11+ (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless)"
  command -v gcloud >/dev/null \
    || die "gcloud not found: install the Google Cloud CLI with its Firestore and Pub/Sub emulators (README.md, \"Set up\": gcloud components, or the google-cloud-cli-*-emulator packages)"
}

cmd_test() {
  ensure_venv
  require_emulator_tools
  cd "$ROOT"
  "$PY" -m pytest tests "$@"
}

cmd_local() {
  ensure_venv
  require_emulator_tools
  cd "$ROOT"
  case "${1:-up}" in
    down) "$VENV/bin/releasectl" local down ;;
    up)
      "$VENV/bin/releasectl" local up
      "$VENV/bin/releasectl" local demo
      echo
      echo "The stack stays up: try 'releasectl status' (activate .venv first), stop it with './deploy.sh local down'."
      ;;
    canary) cmd_local_canary "${2:-up}" ;;
    *) die "unknown: ./deploy.sh local $1 (use: ./deploy.sh local [down|canary [down]])" ;;
  esac
}

# The canary act needs an env with canary steps and the judge on short windows: its own stack,
# with its own config and state directory, beside the main one.
cmd_local_canary() {
  export RELEASECTL_LOCAL_DIR="$ROOT/.local/canary"
  export RELEASECTL_CONFIG_FILE="$ROOT/config/canary-demo/environments.toml"
  export RELEASECTL_CHECKS_FILE="$ROOT/config/canary-demo/checks.toml"
  case "$1" in
    down) "$VENV/bin/releasectl" local down ;;
    up)
      "$VENV/bin/releasectl" local up
      "$VENV/bin/releasectl" local demo --canary
      echo
      echo "The canary stack stays up (.local/canary). To talk to it, export RELEASECTL_LOCAL_DIR,"
      echo "RELEASECTL_CONFIG_FILE and RELEASECTL_CHECKS_FILE as deploy.sh does; stop it with"
      echo "'./deploy.sh local canary down'."
      ;;
    *) die "unknown: ./deploy.sh local canary $1 (use: ./deploy.sh local canary [down])" ;;
  esac
}

# Google Cloud: the plan (every gcloud command, in order) is built in Python, where it is tested.
cmd_gcp() {
  ensure_venv
  exec "$PY" -m shared.deploy.gcp "$@"
}

case "${1:-}" in
  local) shift; cmd_local "$@" ;;
  test) shift; cmd_test "$@" ;;
  gcp) shift; cmd_gcp "$@" ;;
  -h|--help|help) usage ;;
  "") usage; exit 2 ;;
  *) usage >&2; die "unknown command: $1" ;;
esac
