"""The grid of `fluctinit sweep`: parsing, cell names, every cell's config checked before any work."""

import json

import numpy as np
import pytest

from fluctinit import cli
from fluctinit.errors import ParameterError
from fluctinit.training import cell_names, grid_cells, load_experiment, parse_grid, parse_values, train_cells


@pytest.mark.parametrize("text, values", [
    ("0.5,1,2", [0.5, 1, 2]),
    ("stratified,pooled", ["stratified", "pooled"]),
    ("[128],[128,128]", [[128], [128, 128]]),
    ("true,false,null", [True, False, None]),
    ('"1",1', ["1", 1]),  # a JSON string stays a string
    ('"a,b",c', ["a,b", "c"]),  # commas inside quotes do not split
    (' 0.5 , 1 ', [0.5, 1]),
    ('{"a": [1, 2]},3', [{"a": [1, 2]}, 3]),
    ("range(1,4)", [1, 2, 3]),
    ("range(8,0,-4)", [8, 4]),
    ("0,linspace(1,2,3)", [0, 1.0, 1.5, 2.0]),
])
def test_values_lists_json_and_ranges(text, values):
    assert parse_values(text) == values


def test_linspace_and_logspace_are_numpys():
    # numpy.linspace / numpy.logspace are the documented definitions (GRID_SYNTAX)
    assert parse_values("logspace(-2,1,13)") == [float(v) for v in np.logspace(-2, 1, 13)]
    assert parse_values("linspace(0,1,5)") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_values("linspace(3,4,1)") == [3.0]
    assert parse_values("logspace(-2,1,13)")[0] == 0.01 and parse_values("logspace(-2,1,13)")[-1] == 10.0


@pytest.mark.parametrize("text, match", [
    ("logspace(-2,1)", "range logspace must have"),
    ("linspace(0,1,0)", "integer num >= 1"),
    ("linspace(0,1,2.5)", "integer num >= 1"),
    ("linspace(a,1,3)", "finite start"),
    ("logspace(0,400,3)", "finite float"),
    ("range(1,1)", "at least one integer"),
    ("range(0,5,0)", "step not 0"),
    ("range(0,1e9)", "integers"),
    ("range(0,10000000)", "at most"),
    ("0.5,,1", "non-empty"),
    ("[1,2", "balanced"),
    ("1],[2", "balanced"),
    ('"open', "balanced"),
    ("1,1.0", "differ"),  # one cell twice
])
def test_bad_values_are_one_parameter_error(text, match):
    with pytest.raises(ParameterError, match=match) as err:
        parse_values(text)
    assert "\n" not in str(err.value) and err.value.names == ("grid",)


@pytest.mark.parametrize("spec, match", [
    ("init.sigma_u", "KEY=V1,V2"), ("=1,2", "KEY=V1,V2"), ("init.sigma_u=", "KEY=V1,V2"),
    ("init..sigma_u=1", "KEY=V1,V2"), ("1abc=1", "KEY=V1,V2"),
])
def test_bad_entries(spec, match):
    with pytest.raises(ParameterError, match=match):
        parse_grid([spec])


def test_grid_keeps_order_and_refuses_a_key_twice():
    grid = parse_grid(["training.lr=0.01,0.1", "init.sigma_u=logspace(-1,0,2)"])
    assert list(grid) == ["training.lr", "init.sigma_u"] and grid["init.sigma_u"] == [0.1, 1.0]
    with pytest.raises(ParameterError, match="each key once"):
        parse_grid(["init.sigma_u=1", "init.sigma_u=2"])
    with pytest.raises(ParameterError, match="must not sweep 'seed' \\(use --seeds\\)"):
        parse_grid(["seed=1,2"], reserved={"seed": "use --seeds"})


def test_cell_names_are_readable_unique_and_stable():
    grid = {"init.sigma_u": [0.5, 1], "training.lr": [0.01], "network.hidden": [[128], [128, 128]]}
    names = cell_names(grid)
    assert names[0] == "sigma_u=0.5_lr=0.01_hidden=128"
    assert "sigma_u=1_lr=0.01_hidden=128x128" in names and len(set(names)) == 4
    # the sign of a value stays in its name
    assert cell_names({"init.mu_w": [-3.0, 3.0]}) == ["mu_w=-3", "mu_w=3"]
    # two keys ending alike keep their full paths; values equal to 6 digits get a hash
    assert cell_names({"network.tau_syn": [0.01], "network.encoder.tau_syn": [0.02]}) == [
        "network.tau_syn=0.01_network.encoder.tau_syn=0.02"]
    close = cell_names({"init.sigma_u": [1.0, 1.0000001]})
    assert len(set(close)) == 2 and all(n.startswith("sigma_u=1-") for n in close)
    assert cell_names(grid) == names
    cells = grid_cells(grid, [0, 1], "/tmp/x")
    assert [c.name for c in cells[:2]] == [f"{names[0]}_seed0", f"{names[0]}_seed1"]
    assert cells[0].folder.as_posix() == f"/tmp/x/cells/{names[0]}_seed0"
    assert [c.name for c in grid_cells({}, [0, 1], "/tmp/x")] == ["seed0", "seed1"]


def test_every_cell_config_is_checked(tmp_path):
    c = load_experiment("randman-ff")
    cells = train_cells(c, parse_grid(["init.method=normal", "init.mu_w=0,0.1", "init.sigma_w=logspace(-2,0,3)"]),
                        [0, 1], tmp_path / "s", epochs=3)
    assert len(cells) == 12 and {x.payload["training"]["epochs"] for x in cells} == {3}
    first = cells[0].payload
    assert first["init"]["method"] == "normal" and first["init"]["mu_w"] == 0 and first["init"]["sigma_w"] == 0.01
    assert first["source"] == c["source"] and not (tmp_path / "s").exists()  # nothing written
    hidden = train_cells(c, parse_grid(["network.hidden=[16],[16,8]"]), [0], tmp_path)
    assert [x.payload["network"]["hidden"] for x in hidden] == [[16], [16, 8]]


@pytest.mark.parametrize("grid, match", [
    (["init.foo=1"], r"`init.foo` must be one of the known keys of `init`.*got 'foo' \(grid cell init.foo=1\)"),
    (["init.sigma_u=1,-1"], r"`init.sigma_u` must be a finite number with 0 < x <= 1e\+12; got -1 "
                            r"\(grid cell init.sigma_u=-1\)"),
    (["data.split_mode=stratified,bad"], r"`data.split_mode` must be one of 'stratified', 'pooled'; got 'bad'"),
    (["network.hidden=[16],[0]"], r"`network.hidden\[0\]` must be"),
    (["init.method=normal"], r"`init.mu_w` must be given"),
    (["init.sigma_u.x=1"], r"`init.sigma_u` holds 1.0, not a section"),
    (["source=x"], "must not sweep 'source'"),
    (["training.epochs=1,2"], "give the epochs once"),
])
def test_refused_cells_name_key_value_and_range(grid, match, tmp_path):
    c = load_experiment("randman-ff")
    with pytest.raises(ParameterError, match=match) as err:
        train_cells(c, parse_grid(grid), [0], tmp_path, epochs=2 if "epochs" in grid[0] else None)
    assert "\n" not in str(err.value)


def _tiny(tmp_path):
    c = {k: v for k, v in load_experiment("randman-ff").items() if k != "source"}
    c["name"] = "tiny"
    c["data"].update(samples_per_class=20, split=[16, 2, 2])
    c["network"]["hidden"] = [16]
    c["training"].update(batch_size=40, epochs=1)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(c))
    return str(path)


@pytest.mark.parametrize("argv, needle", [
    (["--grid", "init.foo=1"], "`init.foo` must be one of the known keys"),
    (["--grid", "init.sigma_u=0.5,-2"], "`init.sigma_u` must be a finite number with 0 < x <= 1e+12; got -2"),
    (["--grid", "init.sigma_w=logspace(-2,1)"], "`--grid` range logspace must have"),
    (["--grid", "network.hidden=[16],[16,8"], "`--grid` values must have balanced brackets"),
    (["--grid", "init.sigma_u"], "`--grid` must be KEY=V1,V2"),
    (["--grid", "init.sigma_u=1", "--seeds", "0"], "`--seeds` must be an integer >= 1"),
    (["--grid", "init.sigma_u=1", "--workers", "0"], "`--workers` must be an integer >= 1"),
    (["--grid", "init.sigma_u=1", "--threads-per-worker", "0"], "`--threads-per-worker` must be"),
    (["--grid", "init.sigma_u=1", "--batch-cells", "0"], "`--batch-cells` must be an integer >= 1"),
    (["--grid", "init.sigma_u=1", "--epochs", "-1"], "`--epochs` must be an integer >= 0"),
    (["--grid", "init.sigma_u=1", "--data-root", "/tmp"], "`--data-root` does not apply"),
    (["--grid", "init.sigma_u=1", "--slurm", "queue"], "`--slurm` must be KEY=VALUE pairs"),
    (["--grid", "init.sigma_u=1", "--slurm", "partition=x"], "`--slurm` key must be one of queue"),
    (["--grid", "init.sigma_u=1", "--slurm", "cores=x"], "`--slurm` cores must be"),
    (["--grid", "init.sigma_u=1", "--scheduler", "tcp://x:1", "--workers", "2"], "`--workers` does not apply"),
    (["--grid", "init.sigma_u=1", "--device", "cuda"], "`--device` must be 'cpu' on a machine without CUDA"),
])
def test_cli_refuses_with_one_line_and_exit_2_before_any_work(argv, needle, tmp_path, capsys):
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "s"
    assert cli.main(["sweep", _tiny(tmp_path), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fluctinit sweep: error: ") and needle in err, err
    assert not out.exists()


@pytest.mark.parametrize("argv, needle", [
    (["--grid", "sigma_u=0.5,-1"], "`--sigma-u` must be a finite number with 0 < x <= 1e+12; got -1.0 (grid cell "
                                   "sigma_u=-1 seed=0)"),
    (["--grid", "foo=1"], "`--grid` key must be one of sigma_u, mu_u"),
    (["--grid", "seed=1"], "`--grid` must not sweep 'seed'"),
    (["--grid", "neurons=1.5"], "`--neurons` must be an integer"),
    (["--grid", "xi=1", "--sigma-u", "1"], "`--sigma-u` does not apply"),
    (["--grid", "sigma_u=1", "--seed", "3"], "`--seed` does not apply to a sweep"),
])
def test_validate_sweep_refusals(argv, needle, tmp_path, capsys):
    out = tmp_path / "v"
    assert cli.main(["sweep", "validate", "poisson", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fluctinit sweep validate: error: ") and needle in err, err
    assert not out.exists()


def test_validate_sweep_of_fsdd_needs_its_file_before_any_work(tmp_path, capsys):
    out = tmp_path / "v"
    assert cli.main(["sweep", "validate", "fsdd", "--out", str(out), "--grid", "sigma_u=0.5,1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fsdd needs --path" in err and "fluctinit data fsdd" in err, err
    assert not out.exists()


def test_help_documents_the_grid_syntax(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["sweep", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for needle in ("--grid KEY=V1,V2", "logspace(a,b,n)", "linspace(a,b,n)", "results.csv", "--resume",
                   "sweep validate", "--slurm", "pip install fluctinit[cluster]"):
        assert needle in text, needle
