#!/usr/bin/env bash
# Installs everything the test suite needs (Debian's Chromium for the browser tests, the package with its
# test extras, torch pinned to the local CPU wheel) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
python3 -m pip install -q "torch==2.13.0"
python3 -m pip install -q -e ".[test]"
export GRADIO_ANALYTICS_ENABLED=False
lint-imports
set +e
python3 -m pytest -q "$@"
rc=$?
set -e
# pytest's exit code 5 means "no tests collected": that is a failure of the suite, not a pass.
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
