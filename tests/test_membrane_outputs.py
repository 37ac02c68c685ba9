"""The sweep's files: the table and the histograms round-trip through their atomic writers.

Reference: the reports themselves (a write-read round trip), and fluctinit._io's contract that
an atomic write leaves no temporary file behind.
"""

import json
import os

import numpy as np
import pytest
import torch

from fluctinit import validation as M

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def reports():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(4, 80, 12, generator=g) < 0.05).float()
    return M.sweep(M.tensor_source(x, 2e-3), [0.5, 1.0], n_neurons=6, seed=2, hist_neurons=2, hist_bins=10)


def test_histograms_round_trip(tmp_path, reports):
    path = tmp_path / "h" / "hist.json"
    meta = {"seed": 2, "note": "test"}
    M.write_histograms_atomic(path, reports, meta)
    got = json.loads(path.read_text())
    assert got["meta"] == meta
    want = [h for r in reports for h in r.histograms]
    assert len(want) == 4  # 2 targets x 2 neurons
    assert got["histograms"] == json.loads(json.dumps(want))
    M.write_histograms_atomic(path, reports[:1])
    assert json.loads(path.read_text()) == {"meta": {}, "histograms": json.loads(json.dumps(reports[0].histograms))}
    assert not [p for p in os.listdir(path.parent) if p.startswith(".tmp-")]


def test_table_round_trip(tmp_path, reports):
    csv, js = tmp_path / "t.csv", tmp_path / "t.json"
    M.write_table_atomic(csv, reports)
    lines = csv.read_text().splitlines()
    assert lines[0].split(",") == list(M.TABLE_COLUMNS)
    for line, r in zip(lines[1:], reports):
        np.testing.assert_array_equal([float(v) for v in line.split(",")], [r.to_dict()[c] for c in M.TABLE_COLUMNS])
    M.write_table_atomic(js, reports, {"seed": 2})
    assert json.loads(js.read_text()) == json.loads(json.dumps({"meta": {"seed": 2}, "rows": [r.to_dict() for r in reports]}))
