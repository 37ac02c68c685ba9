"""`fluctinit validate poisson|randman|shd|fsdd`: JSON keys, tables, histograms, exit 2 on bad input."""

import json
import math
import os

import numpy as np
import pytest

from fluctinit import cli

from test_membrane_data import poisson_events, write_shd_file

KEYS = {"sigma_u_target", "sigma_u_measured", "sigma_u_spread", "ratio", "ratio_sem", "mu_u_measured", "nu",
        "sigma_u_spread_predicted", "sigma_u_predicted", "mu_u_target", "nu_used", "sigma_u_expected"}
SMALL = ["--neurons", "32", "--fan-in", "40", "--trials", "4", "--duration", "0.4"]


pytestmark = pytest.mark.usefixtures("one_thread")


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_poisson_json_keys_and_values(capsys):
    code, out, err = run(["validate", "poisson", "--json", "--sigma-u", "0.5", "--nu", "20", *SMALL], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert KEYS <= set(d)
    assert d["sigma_u_target"] == 0.5 and d["n_neurons"] == 32 and d["n_inputs"] == 40 and d["nu_used"] == 20.0
    assert d["sigma_u_expected"] == pytest.approx(0.5 * math.sqrt(1 - 20 * 2e-3), rel=1e-12)
    assert d["ratio"] == pytest.approx(d["sigma_u_measured"] / 0.5, rel=1e-12)
    # 32 neurons x 40 inputs: the weight-sampling spread of the ratio is ~ 1/sqrt(2*40) = 11 %
    assert abs(d["ratio"] - math.sqrt(1 - 20 * 2e-3)) < 4 * d["ratio_sem"] + 0.03  # + finite-window bias
    assert abs(d["nu"] - 20) < 4 * math.sqrt(20 / (40 * 4 * 0.4))


def test_poisson_count_mode_and_initializers(capsys):
    for extra in (["--poisson-mode", "count"], ["--init", "recurrent", "--fan-in-rec", "20", "--mu-u", "0.2"],
                  ["--init", "dale-exponential", "--n-inh", "10"], ["--init", "dale-lognormal", "--xi", "2"]):
        code, out, err = run(["validate", "poisson", "--json", *SMALL, *extra], capsys)
        assert code == 0, (extra, err)
        d = json.loads(out)
        assert d["init"] == ([e for e in extra if e.startswith(("recurrent", "dale"))] or ["feedforward"])[0]
        if extra[0] == "--poisson-mode":
            assert d["sigma_u_expected"] == d["sigma_u_target"]  # Poisson counts: eq. 3 exactly


def test_text_output(capsys):
    code, out, err = run(["validate", "poisson", *SMALL], capsys)
    assert code == 0 and err == ""
    assert out.startswith("poisson: init feedforward, 32 neurons, 40 inputs, 4 samples")
    assert "sigma_u target 1" in out and "ratio" in out


def test_sweep_writes_tables_and_histograms(tmp_path, capsys):
    csv, js, hist = tmp_path / "out" / "t.csv", tmp_path / "t.json", tmp_path / "h.json"
    code, out, err = run(["validate", "poisson", "--sweep", "0.25,0.5,1", "--out", str(csv), "--hist", str(hist),
                          "--hist-neurons", "2", "--json", *SMALL], capsys)
    assert code == 0, err
    rows = csv.read_text().splitlines()
    assert rows[0].split(",")[:5] == ["sigma_u_target", "sigma_u_measured", "sigma_u_spread", "ratio", "ratio_sem"]
    assert [float(r.split(",")[0]) for r in rows[1:]] == [0.25, 0.5, 1.0]
    printed = json.loads(out)
    assert [r["sigma_u_target"] for r in printed["rows"]] == [0.25, 0.5, 1.0]
    assert printed["meta"]["seed"] == 0 and "version" in printed["meta"]
    h = json.loads(hist.read_text())
    assert len(h["histograms"]) == 6 and {x["neuron"] for x in h["histograms"]} == {0, 1}
    for x in h["histograms"]:
        w = np.diff(x["edges"])
        assert (np.asarray(x["density"]) * w).sum() + x["underflow"] + x["overflow"] == pytest.approx(1.0)
        assert {"mu_u_predicted", "sigma_u_predicted", "sigma_u_target", "mu_u_measured"} <= set(x)
    code, _, err = run(["validate", "poisson", "--sweep", "--out", str(js), *SMALL], capsys)
    assert code == 0, err
    table = json.loads(js.read_text())
    assert [r["sigma_u_target"] for r in table["rows"]] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]  # atomic: no leftovers


def test_shd_on_generated_official_file(tmp_path, capsys):
    rng = np.random.default_rng(1)
    t, u = poisson_events(rng, 6)
    path = tmp_path / "shd_train.h5"
    write_shd_file(path, t, u, rng.integers(0, 20, 6))
    code, out, err = run(["validate", "shd", "--path", str(path), "--json", "--neurons", "16"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert KEYS <= set(d) and d["data"] == "shd" and d["n_samples"] == 6 and d["n_steps"] == 350
    assert d["sigma_u_expected"] is None and abs(d["nu"] - 15.8) < 4 * math.sqrt(15.8 / (700 * 6 * 0.7))
    code, out, err = run(["validate", "shd", "--path", str(path), "--json", "--neurons", "8", "--max-samples", "2",
                          "--duration", "0.5"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["n_samples"] == 2 and d["n_steps"] == 250


BAD = [
    (["poisson", "--neurons", "0"], "`--neurons` must be an integer >= 1; got 0"),
    (["poisson", "--sigma-u", "-1"], "`--sigma-u` must be"),
    (["poisson", "--mode", "exact"], "`--mode` must be one of 'discrete', 'continuous', 'calibrated'; got 'exact'"),
    (["poisson", "--init", "xavier"], "`--init` must be one of"),
    (["poisson", "--poisson-mode", "gauss"], "`--poisson-mode` must be one of"),
    (["poisson", "--nu", "600"], "`--nu`=600.0, `--dt`=0.002"),
    (["poisson", "--alpha", "1.5", "--init", "recurrent"], "`--alpha` must be"),
    (["poisson", "--tau-mem", "0"], "`--tau-mem` must be"),
    (["poisson", "--seed", "-3"], "`--seed` must be an integer >= 0; got -3"),
    (["poisson", "--sweep", "1,-2"], "`--sweep` must be"),
    (["poisson", "--sweep", "1,2", "--xi", "2"], "cannot also fix xi"),
    (["poisson", "--init", "dale-exponential", "--mu-u", "0.3"], "`--mu-u`=0.3"),
    (["poisson", "--mu-u", "1.5"], "--mu-u"),
    (["poisson", "--path", "x.h5"], "poisson data are generated"),
    (["shd", "--fan-in", "10", "--path", "x.h5"], "--fan-in applies to poisson data only"),
    (["randman", "--path", "x.h5"], "randman data are generated"),
    (["shd"], "zenkelab.org"),
    (["fsdd"], "fsdd needs --path: an FSDD file fsdd_train.h5"),
    (["fsdd", "--fan-in", "10", "--path", "x.h5"], "--fan-in applies to poisson data only"),
    (["fsdd", "--trials", "2", "--path", "x.h5"], "--trials applies to poisson data only"),
]


@pytest.mark.parametrize("argv,message", BAD)
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    code, out, err = run(["validate", *argv], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert err.startswith("fluctinit validate: error: ")


def test_missing_or_malformed_shd_file_exits_2(tmp_path, capsys):
    code, _, err = run(["validate", "shd", "--path", str(tmp_path / "nope.h5")], capsys)
    assert code == 2 and "no SHD file at" in err and "zenkelab.org" in err and "--path" in err
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    code, _, err = run(["validate", "shd", "--path", str(bad)], capsys)
    assert code == 2 and "bad.h5" in err and len(err.strip().splitlines()) == 1


def write_fsdd_file(path, rng, n_samples, channels=700, labels=None):
    """A file as `fluctinit data fsdd` writes it (SHD's layout with a `channels` attribute):
    independent Poisson events at 15.8 Hz on every channel, labels among the ten digits."""
    from fluctinit.datasets import write_spike_file

    t, u = poisson_events(rng, n_samples, n_units=channels)
    labels = rng.integers(0, 10, n_samples) if labels is None else labels
    write_spike_file(path, t, u, labels, attrs={"channels": channels})


def test_fsdd_is_the_shd_measurement_under_its_own_name(tmp_path, capsys):
    path = tmp_path / "fsdd_train.h5"
    write_fsdd_file(path, np.random.default_rng(2), 6)
    argv = ["--path", str(path), "--json", "--neurons", "16"]
    code, out, err = run(["validate", "shd", *argv], capsys)  # an FSDD file is read as SHD's are
    assert code == 0, err
    as_shd = json.loads(out)
    code, out, err = run(["validate", "fsdd", *argv], capsys)
    assert code == 0, err
    as_fsdd = json.loads(out)
    assert (as_shd["data"], as_fsdd["data"]) == ("shd", "fsdd")
    assert {k: v for k, v in as_fsdd.items() if k != "data"} == {k: v for k, v in as_shd.items() if k != "data"}
    assert (as_fsdd["n_inputs"], as_fsdd["n_samples"], as_fsdd["n_steps"]) == (700, 6, 350)
    hist, table = tmp_path / "h.json", tmp_path / "t.json"
    code, out, err = run(["validate", "fsdd", "--path", str(path), "--neurons", "8", "--sweep", "0.5,1",
                          "--out", str(table), "--hist", str(hist)], capsys)
    assert code == 0, err
    assert out.startswith("fsdd: ") and "shd" not in out.lower()  # the text names FSDD, never SHD
    for written in (table, hist):
        meta = json.loads(written.read_text())["meta"]
        assert meta["data"] == "fsdd"
    assert [r["data"] for r in json.loads(table.read_text())["rows"]] == ["fsdd", "fsdd"]


def test_fsdd_inputs_are_the_files_channels_and_its_labels_ten_digits(tmp_path, capsys):
    rng = np.random.default_rng(5)
    path = tmp_path / "few.h5"
    write_fsdd_file(path, rng, 4, channels=64)
    code, out, err = run(["validate", "fsdd", "--path", str(path), "--json", "--neurons", "8"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["n_inputs"] == 64 and abs(d["nu"] - 15.8) < 4 * math.sqrt(15.8 / (64 * 4 * 0.7))
    bad = tmp_path / "label12.h5"
    write_fsdd_file(bad, rng, 3, labels=[0, 12, 3])  # a label SHD has (20 classes), FSDD not (10 digits)
    code, _, err = run(["validate", "fsdd", "--path", str(bad), "--neurons", "8"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "`--path` must be an FSDD file" in err and "labels must lie in [0, 10)" in err


def test_missing_fsdd_file_says_how_to_make_it(tmp_path, capsys):
    code, _, err = run(["validate", "fsdd", "--path", str(tmp_path / "nope.h5")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no FSDD file at" in err and "fluctinit data fsdd" in err and "zenkelab" not in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["validate", "mnist"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["validate", "poisson", "--sweep", "a,b"])
    assert e.value.code == 2


@pytest.mark.slow
def test_randman_cli_full_paper_data_set(capsys):
    code, out, err = run(["validate", "randman", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["n_samples"] == 8000 and d["nu"] == pytest.approx(5.0) and d["ratio"] < 1.0


def test_parser_does_not_import_torch():
    # DEVELOPING.md: subcommand modules import torch lazily, so `fluctinit kernel` stays fast
    import subprocess
    import sys

    code = ("import sys; from fluctinit import cli; "
            "cli.build_parser(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
