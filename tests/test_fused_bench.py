"""The ``fluctinit bench`` subcommand (fluctinit.cli.bench, harness fluctinit.training.bench): output contract and errors.

Speed is never asserted here (timings belong in benchmarks/); these tests check that one tiny
run produces the documented JSON and that bad flags exit with status 2 naming the flag.
"""

from __future__ import annotations

import json
import math

import pytest

from fluctinit import cli


@pytest.fixture
def bench_cli():
    return cli.main


def test_bench_json_contract(bench_cli, capsys):
    rc = bench_cli(["bench", "--shapes", "randman,shd-rec", "--batches", "1", "--batch-size", "2", "--no-peers", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"randman", "shd-rec"}
    for shape, rec in out.items():
        for key in ("plain_s", "fused_s", "floor_s", "speedup"):
            assert rec[key] > 0 and math.isfinite(rec[key]), (shape, key)
        assert rec["speedup"] == pytest.approx(rec["plain_s"] / rec["fused_s"])
        assert rec["peers"] == {}
        assert rec["batch"] == 2
    assert out["shd-rec"]["steps"] == 350 and out["randman"]["steps"] == 100
    # Bernoulli inputs at the data sets' rates (SHD 15.8 Hz, dt 2 ms): about 3 % of bins
    p = 15.8 * 2e-3
    n = 2 * 350 * 700
    assert abs(out["shd-rec"]["input_density"] - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_bench_table(bench_cli, capsys):
    assert bench_cli(["bench", "--shapes", "randman", "--batches", "1", "--batch-size", "2", "--no-peers"]) == 0
    table = capsys.readouterr().out
    for word in ("plain", "fused", "floor", "s/batch", "sample-steps/s", "peak MiB"):
        assert word in table


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--shapes", "mnist"], "--shapes"),
        (["--batches", "0"], "--batches"),
        (["--batch-size", "0"], "--batch-size"),
        (["--device", "tpu"], "--device"),
    ],
)
def test_bench_bad_flags_exit_2(bench_cli, capsys, argv, flag):
    assert bench_cli(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert f"`{flag}`" in err and len(err.strip().splitlines()) == 1


def test_bench_restores_denormal_flushing(bench_cli, capsys):
    """The bench flushes denormals for every path alike, and leaves the process as it found it."""
    from fluctinit.sim.denormal import flushing as _flushing

    before = _flushing()
    assert bench_cli(["bench", "--shapes", "randman", "--batches", "1", "--batch-size", "1", "--no-peers", "--json"]) == 0
    assert _flushing() == before


def test_bench_cuda_without_cuda_exits_2(bench_cli, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_cli(["bench", "--shapes", "randman", "--device", "cuda", "--no-peers"]) == 2
    err = capsys.readouterr().err
    assert "`--device` must be 'cpu' when CUDA is not available; got 'cuda'" in err
    assert len(err.strip().splitlines()) == 1


def test_bench_shapes_restores_the_thread_count():
    import torch

    from fluctinit.training.bench import bench_shapes

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    res = bench_shapes(["randman"], batches=1, batch=1, peers=False, threads=other)
    assert set(res) == {"randman"} and res["randman"]["threads"] == other
    assert torch.get_num_threads() == before
