#!/usr/bin/env bash
# Set up (if needed) and run the main job, a few minutes on a laptop CPU:
#   1. the worked example (kernel integrals, the paper's initializations),
#   2. the theory against simulation on Poisson and Randman inputs (membrane statistics),
#   3. a short Randman training run from the fluctuation-driven initialization.
# Results go to results/main/ (JSON, written atomically).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
F=.venv/bin/fluctinit
OUT=${OUT:-results/main}
mkdir -p "$OUT"
$F demo
echo
echo "== membrane statistics: target sigma_u = 1, 128 neurons (fluctinit validate)"
$F validate poisson --json > "$OUT/validate_poisson.json"
$F validate randman --json > "$OUT/validate_randman.json"
.venv/bin/python - "$OUT" <<'PY'
import json, sys
for name in ("poisson", "randman"):
    d = json.load(open(f"{sys.argv[1]}/validate_{name}.json"))
    exp = d.get("sigma_u_expected")
    exp = f", exact expectation {exp:.3f}" if exp else ""
    print(f"  {name:8s} nu = {d['nu']:.2f} Hz: measured/target sigma_u = {d['ratio']:.3f} +- {d['ratio_sem']:.3f}{exp}")
PY
echo
echo "== Randman training, ${EPOCHS:-60} epochs (the paper's run is 200: fluctinit train randman-ff)"
# --overwrite: the main job retrains each time it runs (train refuses to replace results silently)
$F train randman-ff --epochs "${EPOCHS:-60}" --seed 0 --out "$OUT" --overwrite
