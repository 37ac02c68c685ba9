#!/usr/bin/env bash
# Set up (if needed) and run the main job: the worked example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/fluctinit demo "$@"
