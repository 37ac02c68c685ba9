"""Smoke tests of the figure scripts on tiny data (STYLE.md practice 13) and of their helpers.

Figure 2 (fluctinit.figures.fig2_membrane): the --tiny run writes stamped results and
figures; a second run with the same config reuses the cache, a changed config recomputes;
without an SHD file the SHD row is left out and noted, never filled with generated data (the
grid has only the rows present); the FSDD row (FSDD through SHD's cochlear model) likewise,
labelled FSDD, never SHD.  The ``fluctinit figures fig2`` item: tiny sizes render a figure
whose JSON holds the plotted numbers of every row (Poisson included), with a labelled SHD
stand-in in quick mode and the SHD row left out in full mode; on Poisson input (the theory's
case) measured matches target within its standard error; panel (a)'s manifolds are the
generator's own.
"""

from __future__ import annotations

import json
import math
import os

import matplotlib

matplotlib.use("Agg")

import pytest

import fluctinit
from fluctinit.figures import _common as C
from fluctinit.figures import _style as S
from fluctinit.figures import fig2_membrane as F2
from fluctinit.errors import ParameterError

STAMP_KEYS = {"version", "git_commit", "git_dirty", "seed", "config", "config_hash", "key", "created_utc", "argv",
              "notes"}
ROW_KEYS = {"sigma_u_target", "sigma_u_measured", "sigma_u_spread", "ratio", "ratio_sem", "sigma_u_predicted",
            "sigma_u_spread_predicted", "mu_u_measured", "n_neurons", "n_samples", "seed", "per_neuron"}




@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("fig2")
    before = dict(F2.COMPUTE_COUNT)
    info = F2.run(["--tiny", "--out", str(out)])
    return out, info, before


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_fig2_tiny_results_are_stamped_with_expected_keys(tiny_run):
    out, info, before = tiny_run
    assert info["status"] == {"randman": "computed", "shd": "skipped", "fsdd": "skipped", "poisson": "computed"}
    assert F2.COMPUTE_COUNT["randman"] == before["randman"] + 1
    assert F2.COMPUTE_COUNT["poisson"] == before["poisson"] + 1
    assert F2.COMPUTE_COUNT["shd"] == before["shd"]  # no SHD computation without the file
    assert F2.COMPUTE_COUNT["fsdd"] == before["fsdd"]
    cfg = F2.load_config(tiny=True)
    res = _load(out / "fig2_randman.json")
    st = res["stamp"]
    assert STAMP_KEYS <= set(st)
    assert st["version"] == fluctinit.__version__
    assert st["seed"] == cfg["seed"]
    assert st["config"] == cfg and st["config"]["tiny"] is True
    assert st["config_hash"] == C.config_hash(cfg)
    assert st["key"] == F2.dataset_key(cfg, "randman")
    assert {"dataset", "status", "rows", "histograms", "examples", "n_samples", "n_inputs", "nu", "elapsed_s"} <= set(res)
    assert res["n_samples"] == cfg["randman"]["max_samples"] and res["n_inputs"] == 20
    # Randman: one spike per unit per 200 ms trial, 5 Hz exactly (paper section 4.1)
    assert math.isclose(res["nu"], 5.0, rel_tol=1e-9)
    assert [r["sigma_u_target"] for r in res["rows"]] == cfg["sigma_us"]
    for r in res["rows"]:
        assert ROW_KEYS <= set(r)
        assert r["n_neurons"] == cfg["neurons"]
        # ratio is the mean of per-neuron sigma_i / target, i.e. mean(sigma_i) / target
        assert math.isclose(r["ratio"], r["sigma_u_measured"] / r["sigma_u_target"], rel_tol=1e-9)
        assert r["sigma_u_spread_predicted"] > 0 and r["sigma_u_spread"] > 0
        assert len(r["per_neuron"]["sigma_u"]) == cfg["neurons"]
    assert len(res["histograms"]) == len(cfg["sigma_us"])
    for h in res["histograms"]:
        widths = [b - a for a, b in zip(h["edges"][:-1], h["edges"][1:])]
        mass = sum(d * w for d, w in zip(h["density"], widths)) + h["underflow"] + h["overflow"]
        assert math.isclose(mass, 1.0, rel_tol=1e-9)  # a density over all values of U


def test_fig2_tiny_figures_carry_the_stamp(tiny_run):
    from PIL import Image

    out, info, _ = tiny_run
    png, pdf = out / "fig2.png", out / "fig2.pdf"
    assert sorted(info["files"]) == sorted([str(png), str(pdf)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with Image.open(png) as im:
        stamp = json.loads(im.text["Description"])
        assert im.size[0] > 500
    assert stamp["version"] == fluctinit.__version__
    assert stamp["config_hash"] == C.config_hash(F2.load_config(tiny=True))
    assert stamp["results"]["shd"]["status"] == "skipped"
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-"
    assert stamp["config_hash"].encode() in data  # Keywords/Subject of the PDF info dictionary
    assert not [p for p in os.listdir(out) if p.startswith(".tmp-")]  # atomic writes leave no temporaries


def test_fig2_missing_shd_panels_skipped_and_noted(tiny_run):
    out, _, _ = tiny_run
    shd = _load(out / "fig2_shd.json")
    assert shd["status"] == "skipped"
    assert "rows" not in shd and "histograms" not in shd  # nothing substituted for SHD
    assert "shd.path is null" in shd["reason"]
    assert shd["reason"] in shd["stamp"]["notes"]
    with __import__("PIL.Image").Image.open(out / "fig2.png") as im:
        assert shd["reason"] in json.loads(im.text["Description"])["notes"]


def test_fig2_cache_reused_and_changed_config_recomputes(tiny_run, tmp_path):
    out, _, _ = tiny_run
    path = out / "fig2_randman.json"
    mtime = path.stat().st_mtime_ns
    n = F2.COMPUTE_COUNT["randman"]
    info = F2.run(["--tiny", "--out", str(out), "--compute-only"])
    assert info["status"]["randman"] == "cached" and info["files"] == []
    assert F2.COMPUTE_COUNT["randman"] == n and path.stat().st_mtime_ns == mtime
    old = _load(path)
    # changed config (another weight seed): recomputed, new key, other weights
    raw = _load(F2.DEFAULT_CONFIG)
    raw["seed"] = raw["seed"] + 1
    cfg_path = tmp_path / "fig2.json"
    cfg_path.write_text(json.dumps(raw))
    info = F2.run(["--tiny", "--out", str(out), "--compute-only", "--config", str(cfg_path)])
    assert info["status"]["randman"] == "computed"
    assert F2.COMPUTE_COUNT["randman"] == n + 1
    new = _load(path)
    assert new["stamp"]["key"] != old["stamp"]["key"] and new["stamp"]["seed"] == raw["seed"]
    assert new["rows"][0]["per_neuron"]["sigma_u"] != old["rows"][0]["per_neuron"]["sigma_u"]
    # --plot-only refuses results computed for another config (exit status 2) ...
    assert F2.main(["--tiny", "--out", str(out), "--plot-only"]) == 2
    # ... and plots those of its own config without computing
    png = out / "fig2.png"
    before = png.stat().st_mtime_ns
    info = F2.run(["--tiny", "--out", str(out), "--plot-only", "--config", str(cfg_path)])
    assert info["status"] == {"randman": "cached", "shd": "cached", "fsdd": "cached", "poisson": "cached"}
    assert F2.COMPUTE_COUNT["randman"] == n + 1
    assert png.stat().st_mtime_ns != before


def _tiny_with_file(tmp_path, dataset: str, path):
    """The arguments of a --tiny run (4 neurons) with the shipped config's ``<dataset>.path`` set
    to ``path``, and its output folder."""
    raw = _load(F2.DEFAULT_CONFIG)
    raw[dataset]["path"] = str(path)
    raw["tiny"]["neurons"] = 4
    cfg_path = tmp_path / "fig2.json"
    cfg_path.write_text(json.dumps(raw))
    out = tmp_path / "out"
    return ["--tiny", "--out", str(out), "--config", str(cfg_path)], out


def test_fig2_shd_panels_from_a_file_in_the_official_format(tmp_path, one_thread, capsys):
    """The SHD path is exercised on a small file in the official HDF5 layout given by the config
    (independent Poisson events at 15.8 Hz on 700 units, the paper's SHD mean rate)."""
    import numpy as np
    from PIL import Image
    from test_membrane_data import poisson_events, write_shd_file

    rng = np.random.default_rng(3)
    t, u = poisson_events(rng, 4)
    shd = tmp_path / "shd_train.h5"
    write_shd_file(shd, t, u, rng.integers(0, 20, 4))
    argv, out = _tiny_with_file(tmp_path, "shd", shd)
    info = F2.run(argv)
    assert info["status"]["shd"] == "computed"
    res = _load(out / "fig2_shd.json")
    assert res["n_samples"] == 4 and res["n_inputs"] == 700 and res["stamp"]["notes"] == []
    # measured input rate: 4 samples x 700 units x 0.7 s of Poisson events; 4 standard errors
    assert abs(res["nu"] - 15.8) < 4 * math.sqrt(15.8 / (700 * 4 * 0.7))
    assert [r["sigma_u_target"] for r in res["rows"]] == F2.load_config(tiny=True)["sigma_us"]
    with Image.open(out / "fig2.png") as im:
        stamp = json.loads(im.text["Description"])
    assert stamp["results"]["shd"]["status"] == "computed"
    assert not any(n.startswith("SHD row") for n in stamp["notes"])  # (FSDD's is left out: no file)
    # a file that is not in the official format is an error (exit 2), never skipped or replaced
    shd.write_bytes(b"not hdf5")
    capsys.readouterr()
    assert F2.main([*argv, "--compute-only"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fig2_membrane: error: ") and "shd_train.h5" in err
    assert _load(out / "fig2_shd.json")["status"] == "computed"  # the earlier result is left as it was


def test_fig2_configured_but_missing_shd_file_is_skipped(tmp_path, one_thread):
    raw = _load(F2.DEFAULT_CONFIG)
    raw["shd"]["path"] = str(tmp_path / "nowhere" / "shd_train.h5")
    cfg = F2.check_config(raw, tiny=True)
    res, status = F2.compute_dataset(cfg, "shd", tmp_path)
    assert status == "skipped" and "no SHD file at" in res["reason"] and "nowhere" in res["reason"]
    assert F2.compute_dataset(cfg, "shd", tmp_path)[1] == "cached"
    # the file appearing changes the cache key, so a stale skip is never reused
    (tmp_path / "nowhere").mkdir()
    (tmp_path / "nowhere" / "shd_train.h5").write_bytes(b"not hdf5")
    assert F2.dataset_key(cfg, "shd") != res["stamp"]["key"]


def _row_texts(fig, dataset: str) -> list[str]:
    """Every text drawn in one data set's row of figure 2 (its header, titles, labels), by the
    row's gid ``fig2:<data set>``; empty when the row is not drawn."""
    import matplotlib.text

    gid = f"fig2:{dataset}"
    texts = [t.get_text() for t in fig.texts if t.get_gid() == gid]
    return texts + [t.get_text() for ax in fig.axes if ax.get_gid() == gid for t in ax.findobj(matplotlib.text.Text)]


def test_fig2_fsdd_panels_from_a_converted_file_labelled_fsdd(tmp_path, one_thread, monkeypatch):
    """Panels (g, h): FSDD through SHD's cochlear model, from a small file in the layout of
    `fluctinit data fsdd` (SHD's, with a `channels` attribute; Poisson events at 15.8 Hz on 700
    channels).  Skipped and noted while the configured file is missing, computed once it is
    there, then cached; every text of the row names FSDD, none SHD."""
    import numpy as np
    from test_membrane_data import poisson_events

    from fluctinit.datasets import write_spike_file

    drawn = {}
    save = C.save_figure

    def spy(fig, *args, **kwargs):
        drawn.update(row=_row_texts(fig, "fsdd"), footer=[t.get_text() for t in fig.texts])
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(C, "save_figure", spy)
    fsdd = tmp_path / "fsdd_train.h5"
    argv, out = _tiny_with_file(tmp_path, "fsdd", fsdd)
    assert F2.run(argv)["status"]["fsdd"] == "skipped"
    note = _load(out / "fig2_fsdd.json")["reason"]
    assert note.startswith(f"FSDD row (g-i) left out: no FSDD file at {str(fsdd)!r}; put fsdd_train.h5 there")
    assert drawn["row"] == []  # no FSDD panels, no blank space: the note is a line under the rows
    assert note in " ".join(drawn["footer"])
    rng = np.random.default_rng(8)
    t, u = poisson_events(rng, 4)
    write_spike_file(fsdd, t, u, rng.integers(0, 10, 4), attrs={"channels": 700})
    n = F2.COMPUTE_COUNT["fsdd"]
    info = F2.run(argv)
    assert info["status"] == {"randman": "cached", "shd": "cached", "fsdd": "computed",
                              "poisson": "cached"}  # the file's new key
    res = _load(out / "fig2_fsdd.json")
    assert res["dataset"] == "fsdd" and res["n_samples"] == 4 and res["n_inputs"] == 700
    assert res["stamp"]["notes"] == [] and res["rows"][0]["data"] == "fsdd"
    assert abs(res["nu"] - 15.8) < 4 * math.sqrt(15.8 / (700 * 4 * 0.7))  # 4 standard errors of the rate
    assert [r["sigma_u_target"] for r in res["rows"]] == F2.load_config(tiny=True)["sigma_us"]
    titles = [t for t in drawn["row"] if t.startswith("(")]
    assert {t[:3] for t in titles} == {"(g)", "(h)", "(i)"}
    assert any(t.startswith("FSDD: 700 inputs") for t in drawn["row"])  # the row's header
    assert not any("SHD" in t for t in drawn["row"])
    assert not any("FSDD row" in t for t in drawn["footer"])
    assert any(f"FSDD file {fsdd}" in t for t in drawn["footer"])
    assert F2.run(argv)["status"]["fsdd"] == "cached" and F2.COMPUTE_COUNT["fsdd"] == n + 1


@pytest.mark.parametrize("name", sorted(F2.CONFIG_CONSTRAINTS))
def test_fig2_config_values_out_of_range_raise_naming_the_key(name):
    raw = _load(F2.DEFAULT_CONFIG)
    for bad in F2.CONFIG_CONSTRAINTS[name].sample_invalid():
        raw[name] = bad
        with pytest.raises(ParameterError, match=rf"`config\.{name}` must be"):
            F2.check_config(raw)


def test_fig2_config_structure_errors():
    raw = _load(F2.DEFAULT_CONFIG)
    with pytest.raises(ParameterError, match=r"`config\.sigma_uu` must be one of the known keys"):
        F2.check_config(dict(raw, sigma_uu=[1.0]))
    with pytest.raises(ParameterError, match="hist_sigma_us"):
        F2.check_config(dict(raw, hist_sigma_us=[0.3]))
    with pytest.raises(ParameterError, match=r"`config\.sigma_us\[1\]` must be"):  # the item, by its index
        F2.check_config(dict(raw, sigma_us=[1.0, -0.5]))
    with pytest.raises(ParameterError, match=r"`config\.shd\.path` must be"):
        F2.check_config(dict(raw, shd=dict(raw["shd"], path=3)))
    with pytest.raises(ParameterError, match=r"`config\.randman\.generator\.samples` must be one of"):
        F2.check_config(dict(raw, randman=dict(raw["randman"], generator={"samples": 3})))
    with pytest.raises(ParameterError, match="samples_per_class"):  # RandmanConfig's own checks, before any work
        F2.check_config(dict(raw, randman=dict(raw["randman"], generator={"samples_per_class": 7})))
    with pytest.raises(ParameterError, match=r"`config\.randman\.max_samples` must be"):
        F2.check_config(dict(raw, randman=dict(raw["randman"], max_samples=0)))


def test_common_config_hash_and_cache(tmp_path):
    a = {"x": 1, "y": {"b": 2.0, "a": [1, 2]}}
    b = {"y": {"a": [1, 2], "b": 2.0}, "x": 1}
    assert C.config_hash(a) == C.config_hash(b) and len(C.config_hash(a)) == 16
    assert C.config_hash(a) != C.config_hash(dict(a, x=2))
    p = tmp_path / "r.json"
    assert C.load_cached(p, "k") is None  # missing
    with pytest.raises(ValueError, match="no stamp"):
        C.write_result(p, {"rows": []})
    C.write_result(p, {"stamp": {"key": "k"}, "rows": [1]})
    assert C.load_cached(p, "k") == {"stamp": {"key": "k"}, "rows": [1]}
    assert C.load_cached(p, "other") is None
    p.write_text("{truncated")
    assert C.load_cached(p, "k") is None  # unreadable caches are recomputed, not trusted
    assert C.deep_update({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}
    assert C.file_fingerprint(None)["missing"] and C.file_fingerprint(tmp_path / "none")["missing"]
    assert C.file_fingerprint(p)["size"] == p.stat().st_size


def _fig2_edited(edits: dict) -> dict:
    """The shipped figure-2 config with ``edits`` (dotted key -> value; the value "DELETE" removes the key)."""
    raw = _load(F2.DEFAULT_CONFIG)
    for dotted, value in edits.items():
        *parents, key = dotted.split(".")
        node = raw
        for p in parents:
            node = node[p]
        if value == "DELETE":
            del node[key]
        else:
            node[key] = value
    return raw


# (id, edits, key path the error must name); "tiny" edits are checked even without --tiny
FIG2_BAD = [
    ("seed-string", {"seed": "0"}, "config.seed"),
    ("seed-bool", {"seed": True}, "config.seed"),
    ("neurons-float", {"neurons": 128.0}, "config.neurons"),
    ("neurons-one", {"neurons": 1}, "config.neurons"),
    ("dt-string", {"dt": "0.002"}, "config.dt"),
    ("dt-zero", {"dt": 0.0}, "config.dt"),
    ("mu-u-nan", {"mu_u": math.nan}, "config.mu_u"),
    ("mode-option", {"mode": "discret"}, "config.mode"),
    ("init-option", {"init": "kaiming"}, "config.init"),
    ("hist-bins-one", {"hist_bins": 1}, "config.hist_bins"),
    ("sigma-us-empty", {"sigma_us": []}, "config.sigma_us"),
    ("sigma-us-number", {"sigma_us": 1.0}, "config.sigma_us"),
    ("sigma-us-item-string", {"sigma_us": [0.5, "1.0"]}, "config.sigma_us[1]"),
    ("hist-not-swept", {"hist_sigma_us": [0.5, 0.3]}, "config.hist_sigma_us[1]"),
    ("no-dt", {"dt": "DELETE"}, "config.dt"),
    ("no-shd", {"shd": "DELETE"}, "config.shd"),
    ("top-misspelt", {"sigma_uu": [1.0]}, "config.sigma_uu"),
    ("randman-list", {"randman": []}, "config.randman"),
    ("randman-misspelt", {"randman.max_sample": 3}, "config.randman.max_sample"),
    ("randman-seed-negative", {"randman.seed": -1}, "config.randman.seed"),
    ("randman-seed-null", {"randman.seed": None}, "config.randman.seed"),
    ("randman-max-samples-zero", {"randman.max_samples": 0}, "config.randman.max_samples"),
    ("generator-list", {"randman.generator": []}, "config.randman.generator"),
    ("generator-unknown", {"randman.generator": {"samples": 3}}, "config.randman.generator.samples"),
    ("generator-seed", {"randman.generator": {"seed": 3}}, "config.randman.generator.seed"),
    ("generator-type", {"randman.generator": {"zero_constant": "false"}}, "config.randman.generator.zero_constant"),
    ("generator-range", {"randman.generator": {"alpha": 0.0}}, "config.randman.generator.alpha"),
    ("generator-split-sum", {"randman.generator": {"samples_per_class": 7}},
     "config.randman.generator.samples_per_class"),
    ("shd-path-int", {"shd.path": 3}, "config.shd.path"),
    ("shd-path-empty", {"shd.path": ""}, "config.shd.path"),
    ("shd-duration-zero", {"shd.duration": 0.0}, "config.shd.duration"),
    ("shd-unknown", {"shd.file": "x.h5"}, "config.shd.file"),
    ("no-fsdd", {"fsdd": "DELETE"}, "config.fsdd"),
    ("fsdd-path-int", {"fsdd.path": 3}, "config.fsdd.path"),
    ("fsdd-duration-zero", {"fsdd.duration": 0.0}, "config.fsdd.duration"),
    ("fsdd-max-samples-zero", {"fsdd.max_samples": 0}, "config.fsdd.max_samples"),
    ("tiny-not-object", {"tiny": [1]}, "config.tiny"),
    ("tiny-neurons", {"tiny.neurons": 1}, "config.tiny.neurons"),
    ("tiny-misspelt", {"tiny.neuron": 6}, "config.tiny.neuron"),
    ("tiny-sigma-item", {"tiny.sigma_us": [0.5, -1.0, 2.0]}, "config.tiny.sigma_us[1]"),
    ("tiny-generator", {"tiny.randman": {"generator": {"n_train": 1.5}}}, "config.tiny.randman.generator.n_train"),
    ("tiny-shd-unknown", {"tiny.shd": {"paths": None}}, "config.tiny.shd.paths"),
    ("tiny-fsdd-unknown", {"tiny.fsdd": {"channels": 700}}, "config.tiny.fsdd.channels"),
    ("tiny-hist-not-swept", {"tiny.sigma_us": [0.5]}, "config.hist_sigma_us[1]"),
    ("no-poisson", {"poisson": "DELETE"}, "config.poisson"),
    ("poisson-fan-in-zero", {"poisson.fan_in": 0}, "config.poisson.fan_in"),
    ("poisson-nu-negative", {"poisson.nu": -1.0}, "config.poisson.nu"),
    ("poisson-mode-option", {"poisson.poisson_mode": "gauss"}, "config.poisson.poisson_mode"),
    ("poisson-trials-float", {"poisson.trials": 2.0}, "config.poisson.trials"),
    ("poisson-seed-null", {"poisson.seed": None}, "config.poisson.seed"),
    ("poisson-unknown", {"poisson.rate": 5.0}, "config.poisson.rate"),
    ("no-standin", {"standin": "DELETE"}, "config.standin"),
    ("standin-n-train-zero", {"standin.n_train": 0}, "config.standin.n_train"),
    ("standin-duration-zero", {"standin.duration": 0.0}, "config.standin.duration"),
    ("quick-not-object", {"quick": [1]}, "config.quick"),
    ("quick-neurons", {"quick.neurons": 1}, "config.quick.neurons"),
    ("quick-poisson-unknown", {"quick.poisson": {"fanin": 3}}, "config.quick.poisson.fanin"),
    ("quick-hist-not-swept", {"quick.sigma_us": [0.5]}, "config.hist_sigma_us[1]"),
]


@pytest.mark.parametrize("case", FIG2_BAD, ids=[c[0] for c in FIG2_BAD])
def test_fig2_bad_config_is_one_error_naming_the_key_path(case, tmp_path, capsys):
    _, edits, path = case
    raw = _fig2_edited(edits)
    with pytest.raises(ParameterError) as err:
        F2.check_config(raw)
    msg = str(err.value)
    assert msg.startswith(f"`{path}` must be ") and "; got " in msg and "\n" not in msg, msg
    assert err.value.names == (path,)
    # the command line: exit 2, one line, nothing computed or written
    cfg = tmp_path / "fig2.json"
    cfg.write_text(json.dumps(raw))
    n = dict(F2.COMPUTE_COUNT)
    capsys.readouterr()
    assert F2.main(["--tiny", "--config", str(cfg), "--out", str(tmp_path / "out")]) == 2
    out, err_text = capsys.readouterr()
    assert out == "" and err_text.count("\n") == 1 and err_text.startswith(f"fig2_membrane: error: `{path}` must be ")
    assert F2.COMPUTE_COUNT == n and not (tmp_path / "out").exists()


def test_fig2_effective_config_is_the_checked_file_with_its_defaults():
    """Numbers as floats where ranges are real (as fluctinit.errors.check returns them), the
    Randman seed from the config's seed, the SHD duration the paper's 0.7 s (section 4.1)."""
    raw = _fig2_edited({"mu_u": 0, "randman": {"generator": {"n_units": 20}}, "shd": {}, "fsdd": {}})
    cfg = F2.check_config(raw)
    assert cfg["mu_u"] == 0.0 and type(cfg["mu_u"]) is float and type(cfg["neurons"]) is int
    assert cfg["randman"] == {"seed": raw["seed"], "max_samples": None, "generator": {"n_units": 20}}
    assert cfg["shd"] == cfg["fsdd"] == {"path": None, "duration": 0.7, "max_samples": None}
    assert cfg["poisson"] == dict(raw["poisson"], seed=raw["seed"])  # the Poisson spikes' seed: the config's
    assert cfg["tiny"] is False and cfg["quick"] is False and set(cfg) == set(raw)
    assert F2.check_config(raw, tiny=True)["neurons"] == raw["tiny"]["neurons"]
    assert F2.check_config(raw, quick=True)["neurons"] == raw["quick"]["neurons"]
    assert F2.check_config(raw, quick=True, tiny=True)["neurons"] == raw["tiny"]["neurons"]  # tiny wins


def test_fig2_command_line_paths_refused_before_any_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "notjson.json").write_text("{")
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(ro) else real_access(p, mode, **kw))
    cases = [
        (["--config", ""], "`--config` must be a readable JSON file; got '' (empty)"),
        (["--config", "/"], "`--config` must be a readable JSON file; got '/' (a folder)"),
        (["--config", str(tmp_path)], "(a folder)"),
        (["--config", str(tmp_path / "none.json")], "(no such file)"),
        (["--config", str(tmp_path / "notjson.json")], "`--config` must be a valid JSON file"),
        (["--out", ""], "`--out` must be a writable folder; got '' (empty)"),
        (["--out", "/"], "`--out` must be a writable folder; got '/'"),
        (["--out", str(tmp_path / "afile")], "(an existing file)"),
        (["--out", str(tmp_path / "afile" / "sub")], "is a file)"),
        (["--out", str(ro / "sub")], "is not writable)"),
    ]
    n = dict(F2.COMPUTE_COUNT)
    for argv, words in cases:
        capsys.readouterr()
        assert F2.main(["--tiny", *argv]) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and err.startswith("fig2_membrane: error: ") and words in err, err
    assert F2.COMPUTE_COUNT == n


def test_fig2_output_into_a_closed_pipe_ends_quietly():
    """`... | head -1`: the reader stops; the script ends with status 0 and no traceback."""
    import subprocess
    import sys

    code = ("import sys\nfrom fluctinit.figures import fig2_membrane as F\n"
            "def run(argv):\n    for i in range(200000):\n        print('line', i)\n"
            "F.run = run\nsys.exit(F.main([]))\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()  # like head after its first line
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0
    assert first == b"line 0\n" and err == b""


def test_fig2_failed_write_is_one_line(capsys, monkeypatch):
    def run(argv):
        raise OSError(28, "No space left on device", "/results/fig2/fig2.png")

    monkeypatch.setattr(F2, "run", run)
    assert F2.main([]) == 2
    assert capsys.readouterr().err == "fig2_membrane: error: No space left on device (/results/fig2/fig2.png)\n"


# --------------------------------------------------------------------------------------
# the item of `fluctinit figures` (fluctinit.figures._items)


def _render_fig2(out, *, data_root, sizes=None, quick=True):
    """Render the fig2 item into ``out``: ``Context(tiny=True)`` (quick mode), or with
    ``sizes`` the item's settings of that size in the mode ``quick`` says (tiny sizes in full
    mode: the shipped item's full settings are the paper's, hours on a CPU)."""
    import dataclasses

    from fluctinit.figures._items import Context, get_item, render

    item = get_item("fig2")
    if sizes is not None:
        item = dataclasses.replace(item, settings=lambda ctx: F2.item_settings(ctx, sizes))
        ctx = Context(out=out, quick=quick, quiet=True, data_root=data_root)
    else:
        ctx = Context(out=out, tiny=True, quiet=True, data_root=data_root)
    outcome = render(item, ctx)
    return outcome, _load(out / "fig2.json")


@pytest.fixture(scope="module")
def item_tiny(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("fig2-item")
    return out, *_render_fig2(out, data_root=out / "no-data")


@pytest.fixture(scope="module")
def item_full(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("fig2-item-full")
    return out, *_render_fig2(out, data_root=out / "no-data", sizes="tiny", quick=False)


def test_fig2_item_writes_a_figure_and_its_numbers(item_tiny):
    from matplotlib.image import imread

    from fluctinit.figures._items import Context

    out, outcome, result = item_tiny
    assert outcome.status == "made" and not outcome.cached
    assert {p.name for p in outcome.files} == {"fig2.json", "fig2.png", "fig2.pdf"}
    assert (out / "fig2.pdf").read_bytes()[:5] == b"%PDF-"
    pixels = imread(out / "fig2.png")
    assert pixels.shape[1] == round(7.0 * 150)  # PAGE wide at 150 dpi
    assert pixels[..., :3].std() > 0.1  # drawn, not blank
    data = result["data"]
    cfg = F2.item_settings(Context(out=out, tiny=True, data_root=out / "no-data"))
    assert result["stamp"]["config"] == cfg and result["stamp"]["quick"] is True
    assert data["order"] == ["randman", "shd", "poisson"]  # FSDD has no file here and is never stood in
    for ds in data["order"]:
        row = data["rows"][ds]
        assert row["letters"] == list(F2.LETTERS[ds])
        assert [r["sigma_u_target"] for r in row["sweep"]] == cfg["sigma_us"]
        assert all(set(F2.SWEEP_KEYS) == set(r) for r in row["sweep"])
        assert [h["sigma_u_target"] for h in row["histograms"]] == cfg["hist_sigma_us"]
        assert row["n_neurons"] == cfg["neurons"] and row["nu"] > 0
        assert row["examples"]["rasters"]
    assert data["rows"]["poisson"]["n_inputs"] == cfg["poisson"]["fan_in"]
    assert data["rows"]["poisson"]["n_samples"] == cfg["poisson"]["trials"]
    man = data["rows"]["randman"]["examples"]["manifold"]
    assert man["units"] == [0, 1, 2] and [c["label"] for c in man["classes"]] == [0, 1]
    assert all(len(c["curve"]) == F2.MANIFOLD_POINTS and len(c["sample"]) == 3 for c in man["classes"])
    assert [r["label"] for r in data["rows"]["randman"]["examples"]["rasters"]] == [0, 1]  # a sample of each class
    assert "fsdd" not in data["rows"] and any(n.startswith("FSDD row (g-i) left out") for n in data["left_out"])


def test_fig2_item_quick_stands_in_for_a_missing_shd_file_labelled_as_such(item_tiny):
    out, _, result = item_tiny
    data, stamp = result["data"], result["stamp"]
    assert data["standins"] == ["SHD"] and stamp["standins"] == ["SHD"]  # as every item names them
    row = data["rows"]["shd"]
    assert row["label"] == "SHD stand-in (generated)" == F2.STANDIN_LABEL
    assert data["sources"]["shd"].startswith("generated stand-in files, not SHD (cache/standin/shd/")
    assert any("generated stand-in" in n and "no result on SHD" in n for n in stamp["notes"])
    standin = list((out / "cache" / "standin" / "shd").glob("*/shd_train.h5"))
    assert len(standin) == 1 and (standin[0].parent / "shd_test.h5").is_file()
    assert row["n_samples"] == F2.load_config(tiny=True)["standin"]["n_train"]
    # the stand-in's rasters (41 Hz on 700 channels) are spike counts per bin; the counts are its events
    for r in row["examples"]["rasters"]:
        assert r["kind"] == "density" and sum(map(sum, r["counts"])) == r["n_events"]


def test_fig2_item_full_mode_leaves_out_a_missing_shd_row(item_full, item_tiny):
    """Full mode without the SHD file: no stand-in, the SHD row left out with a note saying which
    file to put where, and the grid built from the rows present (no blank half page)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    out, outcome, result = item_full
    data = result["data"]
    assert outcome.status == "made" and result["stamp"]["quick"] is False
    assert data["order"] == ["randman", "poisson"] and data["standins"] == [] and "shd" not in data["sources"]
    where = str(out / "no-data" / "shd_train.h5")
    shd = [n for n in data["left_out"] if n.startswith("SHD row (d-f) left out")]
    assert len(shd) == 1 and f"no SHD file at {where!r}; put shd_train.h5 there" in shd[0]
    assert shd[0] in result["stamp"]["notes"]
    assert not (out / "cache" / "standin").exists()
    with Image.open(out / "fig2.png") as full, Image.open(item_tiny[0] / "fig2.png") as quick:
        assert full.size[0] == quick.size[0] and full.size[1] < quick.size[1]
    with S.style():
        fig = F2.draw(dict(data, left_out=[]))
        assert fig.get_figheight() == pytest.approx(F2._TOP + 2 * F2._ROW_H + F2._BOTTOM)  # two rows, no more
        plt.close(fig)
        fig = F2.draw(data)
        gids = {ax.get_gid() for ax in fig.axes} - {None}  # (colour bars have none)
        assert gids == {"fig2:randman", "fig2:poisson"}
        assert all(ax.has_data() for ax in fig.axes if ax.get_gid())  # no empty panel
        plt.close(fig)


def test_fig2_item_poisson_row_matches_the_theory_within_its_standard_error(item_tiny, item_full):
    """Homogeneous independent Poisson inputs (counts per step) are eqs. 2-5's assumption: the
    measured sigma_hat_U / sigma_U is 1 within 4 standard errors (across neurons) at every target."""
    for _, _, result in (item_tiny, item_full):
        for r in result["data"]["rows"]["poisson"]["sweep"]:
            assert r["ratio_sem"] > 0
            assert abs(r["ratio"] - 1.0) < 4 * r["ratio_sem"], r
            assert math.isclose(r["sigma_u_expected"], r["sigma_u_target"])  # poisson_mode "count": exactly eq. 3


def test_fig2_item_cache_reused(item_tiny):
    out, _, result = item_tiny
    n = dict(F2.COMPUTE_COUNT)
    outcome, again = _render_fig2(out, data_root=out / "no-data")
    assert outcome.cached and again["stamp"]["key"] == result["stamp"]["key"] and F2.COMPUTE_COUNT == n


def test_randman_class_manifolds_are_the_generators():
    """Panel (a) draws the data's own manifolds: walking make_randman's random stream gives, for
    classes 0 and 1, exactly the spike times of that class's samples in every split."""
    import numpy as np

    from fluctinit.datasets import make_randman
    from fluctinit.datasets.randman import randman_class_manifolds

    splits = make_randman(samples_per_class=12, n_train=8, n_valid=2, n_test=2, seed=3)
    cfg = splits.config
    m = randman_class_manifolds(cfg, (0, 1), n_points=50)
    for c in (0, 1):
        assert m[c]["curve"].shape == (50, cfg.n_units) and m[c]["samples"].shape == (12, cfg.n_units)
        mine = m[c]["samples"]
        found = 0
        for split in (splits.train, splits.valid, splits.test):
            for i in np.flatnonzero(np.asarray(split.labels) == c):
                t, u, _ = split.sample(int(i))
                vec = np.empty(cfg.n_units)
                vec[u] = t
                assert np.isclose(mine, vec, rtol=0, atol=1e-12).all(axis=1).sum() == 1
                found += 1
        assert found == 12
    other = randman_class_manifolds(make_randman(samples_per_class=12, n_train=8, n_valid=2, n_test=2,
                                                    seed=4).config, (0,), n_points=50)
    assert not np.allclose(other[0]["samples"], m[0]["samples"])
