#!/usr/bin/env bash
# Set up (if needed) and run the default test suite (slow and gpu tests excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
.venv/bin/python -m pytest -q "$@"
