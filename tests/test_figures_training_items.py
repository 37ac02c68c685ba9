"""The training items of ``fluctinit figures`` (fig3-fig7, table1) on tiny sizes, and the command.

Each item renders in tiny mode (quick settings shrunk further; SHD, CIFAR-10 and DVS-Gesture
replaced by generated stand-in files in their official formats): PNG, PDF and the JSON of the
plotted numbers are written, the PNG is not a blank canvas, the numbers are those of the
sweeps' results tables, the stand-ins are declared, and a second run reuses the cache.
Without --quick, an item whose data are missing is skipped with one line naming the files.
"""

from __future__ import annotations

import csv
import json
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from fluctinit.cli import main
from fluctinit.figures import _items as I
from fluctinit.figures import _runs as R

TRAINING_ITEMS = ("fig3", "fig4", "fig5", "fig6", "table1", "fig7")


@pytest.fixture(scope="module")
def made(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("figures")
    ctx = I.Context(out=out, tiny=True, quiet=True, workers=1)
    return out, ctx, {n: I.render(I.get_item(n), ctx) for n in TRAINING_ITEMS}


def _data(out, name):
    return json.loads((out / f"{name}.json").read_text())


def test_every_training_item_renders_stamped_files(made):
    out, ctx, outcomes = made
    for name, o in outcomes.items():
        assert o.status == "made" and not o.cached, o.line
        for ext in ("png", "pdf", "json"):
            assert (out / f"{name}.{ext}").stat().st_size > 1000
        img = matplotlib.image.imread(out / f"{name}.png")
        rgb = img[..., :3].reshape(-1, 3)
        assert rgb.std() > 0.05  # not a blank canvas
        assert (rgb < 0.5).any(axis=1).mean() > 0.01  # ink: lines and text, not a few specks
        stamp = _data(out, name)["stamp"]
        assert stamp["quick"] is True and stamp["config"] == I.get_item(name).settings(ctx)
        assert "SHD" in stamp["standins"], name  # generated files stood in for SHD: declared
        assert "generated stand-in files, not SHD" in stamp["sources"]["shd"]


def test_the_plotted_numbers_are_the_sweeps_results(made):
    out, ctx, _ = made
    d = _data(out, "fig4")["data"]
    s = I.get_item("fig4").settings(ctx)
    assert sorted(d["rec"]) == sorted(str(k) for k in s["depths"])
    for depth, rows in d["rec"].items():
        assert [r["values"]["init.sigma_u"] for r in rows] == s["sigma_us"]
        with open(ctx.runs / f"fig4_conv{depth}_rec_tiny" / "results.csv", newline="") as f:
            table = list(csv.DictReader(f))
        for r, t in zip(rows, table):
            assert r["status"] == t["status"] == "done"
            assert math.isclose(r["test_accuracy"], float(t["test_accuracy"]))
            # one rate per hidden layer at init, one gradient per hidden layer plus the readout
            assert len(r["rates_init_hz"]) == int(depth) and len(r["sg_init"]) == int(depth) + 1
            assert all(v >= 0 for v in r["rates_init_hz"])
    # larger targets make the first layer fire more at initialization (same weights' shape)
    first = [r["rates_init_hz"][0] for r in d["rec"]["1"]]
    assert first == sorted(first) and first[-1] > 0


def test_fig3_grid_and_theory_band(made):
    out, ctx, _ = made
    d = _data(out, "fig3")["data"]
    s = I.get_item("fig3").settings(ctx)
    for ds in ("randman", "shd"):
        g = d["datasets"][ds]["grid"]
        assert np.array(g["valid_accuracy"], float).shape == (len(s["mu_w"]), len(s["sigma_w"]))
        th = d["datasets"][ds]["theory"]
        assert th["fan_in"] == (20 if ds == "randman" else 700) and th["nu"] > 0
        curve = d["datasets"][ds]["curve"]
        assert len(curve["train_accuracy"]) == s["epochs"]
    from fluctinit.figures.fig3_shallow import _xi
    from fluctinit.theory import membrane_moments

    th = d["datasets"]["randman"]["theory"]
    mu, sd = membrane_moments(th["fan_in"], th["nu"], -0.5, 1.0)
    assert math.isclose(_xi(th, -0.5, 1.0), (1.0 - mu) / sd, rel_tol=1e-12)  # the band is eqs. 4-5's xi


def test_table1_csv_holds_the_table(made):
    out, ctx, _ = made
    rows = list(csv.DictReader(open(out / "table1.csv", newline="")))
    d = _data(out, "table1")["data"]
    assert len(rows) == sum(len(v) for v in d["datasets"].values()) >= 1
    fluct = d["datasets"]["shd"]["3"]["fluctuation"]
    acc = [r["test_accuracy"] for r in fluct if r["status"] == "done"]
    assert float(rows[0]["fluctuation_mean"]) == round(100 * float(np.mean(acc)), 2)
    assert rows[0]["kaiming+homeostasis_n"] == "0"  # no such net at 3 layers: an empty cell, not a number


def test_a_second_run_reuses_the_cache(made):
    out, ctx, _ = made
    o = I.render(I.get_item("fig5"), ctx)
    assert o.status == "made" and o.cached
    assert "from cached data" in o.line


def test_full_mode_without_data_skips_with_one_line(tmp_path, capsys):
    rc = main(["figures", "fig4", "fig5", "fig7", "--out", str(tmp_path / "o"), "--data-root", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    for name, line in zip(("fig4", "fig5", "fig7"), out):
        assert line.startswith(f"{name}: skipped, needs SHD (shd_train.h5, shd_test.h5)") and str(tmp_path) in line
    assert out[-1].startswith("0 made, 3 skipped")
    assert not (tmp_path / "o" / "fig4.png").exists()


def test_full_mode_needs_say_what_runs_and_what_is_missing(tmp_path):
    ctx = I.Context(out=tmp_path, data_root=tmp_path)
    fig3 = I.get_item("fig3")
    needs = fig3.needs(ctx, fig3.settings(ctx))
    shd = [n for n in needs if n.kind == "data"]
    assert len(shd) == 1 and not shd[0].present and not shd[0].required  # SHD panels are optional in fig3
    # the 200-epoch Randman grid of 3c is committed: present without any run here
    assert any(n.kind == "run" and n.present and "fig3c_randman.csv" in n.hint for n in needs)
    assert any(n.kind == "run" and not n.present and "fig3_randman_sigma_u" in n.what for n in needs)


def test_committed_fig3c_table_matches_the_experiment():
    """If randman-ff's config changes, the committed 200-epoch grid no longer is its sweep."""
    from fluctinit.figures import fig3_shallow as F3

    ctx = I.Context(out="unused")
    spec = F3.specs(ctx, F3.settings(ctx), "randman")["grid"]
    rows = F3.committed_grid(spec)
    assert rows is not None and len(rows) == len(F3.FULL["mu_w"]) * len(F3.FULL["sigma_w"])
    assert all(r["status"] == "done" and r["epochs_completed"] == "200" for r in rows)


def test_list_says_what_each_item_needs(tmp_path, capsys):
    assert main(["figures", "--list", "--out", str(tmp_path), "--data-root", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for name in I.NAMES:
        assert f"\n{name}: " in "\n" + text
    assert "missing: SHD (shd_train.h5, shd_test.h5)" in text
    assert "to run: sweep fig4_conv7_rec" in text


@pytest.mark.parametrize("argv, needle", [
    (["figures", "fig9"], "`NAME` must be one of"),
    (["figures", "--workers", "0"], "`--workers` must be"),
    (["figures", "--list", "fig1"], "`--list` lists every item"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "o").exists()


def test_quick_overrides_keep_each_experiment_valid():
    """Every experiment the items sweep, with the --quick overrides, passes the config checks."""
    from fluctinit.training import resolve_config

    exps = {"randman-ff", "shd-ff"} | {f"shd-conv{d}-{k}" for d in (1, 3, 7, 10) for k in ("rec", "ff")}
    exps |= {"shd-conv3-hom", "shd-conv3-priming", "shd-conv7-hom", "cifar10-conv2", "cifar10-conv4",
             "cifar10-conv4-hom", "dvs-conv6", "dvs-conv8", "dvs-conv8-hom", "shd-dale", "shd-rec-160",
             "shd-conv3-dale"}
    for e in sorted(exps):
        config = R.spec_config(R.SweepSpec("t", e, {}, quick=True))
        resolve_config(config)
        assert all(w == R.QUICK[config["data"]["dataset"]]["hidden"] for w in config["network"]["hidden"])
