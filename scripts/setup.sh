#!/usr/bin/env bash
# Set up a virtual environment in .venv with the CPU build of torch and fluctinit.
# Idempotent: a second run only re-installs fluctinit itself (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# The CPU build first: a plain `torch` requirement would pull the multi-GB CUDA build.
# A machine with a local wheelhouse (pip's find-links) gets it from disk in seconds; elsewhere
# it comes from PyTorch's CPU index.  torch's own dependencies come with fluctinit below.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install -q --no-index --no-deps "torch==2.13.0" 2>/dev/null \
        || .venv/bin/python -m pip install -q --no-deps "torch==2.13.0" \
            --index-url https://download.pytorch.org/whl/cpu
fi
.venv/bin/python -m pip install -q -e ".[test,figures,data,interop]"
# The frameworks fluctinit.interop maps and tests against that declare torch (norse, spikingjelly, nirtorch;
# also torchvision, torchaudio): without their dependencies, so the CPU torch stays.  What they import
# besides is here already (numpy, scipy, h5py, tqdm, matplotlib, packaging), except loguru.  The versions
# are the ones whose updates docs/interop.md was read from.
.venv/bin/python -m pip install -q --no-deps "norse==1.1.0" "spikingjelly==2.0.0" "nirtorch==2.6" "loguru==0.7.3"
