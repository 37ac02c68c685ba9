"""The README's Python example runs as printed, and its command-line examples parse."""

import re
import shlex
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "the README shows a Python example"
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
        assert "net" in namespace or "p" in namespace


def _theory_commands():
    for line in README.splitlines():
        line = line.strip()
        if line.startswith("fluctinit kernel") or line.startswith("fluctinit params"):
            yield shlex.split(line.split("#")[0])[1:]


@pytest.mark.parametrize("argv", list(_theory_commands()), ids=" ".join)
def test_theory_commands_run(argv, capsys):
    from fluctinit import cli

    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip()


def _sweep_commands():
    for line in README.splitlines():
        line = line.strip()
        if line.startswith("fluctinit sweep"):
            yield shlex.split(line.split("  #")[0])[1:]


@pytest.mark.parametrize("argv", list(_sweep_commands()), ids=" ".join)
def test_sweep_commands_parse(argv):
    """Each sweep command parses, and its grid (and every cell's config) is accepted; nothing runs."""
    from fluctinit import cli, training
    from fluctinit.cli.sweep import VALIDATE_GRID_KEYS

    argv = [cli.NESTED.get(tuple(argv[:2]), argv[0]), *argv[2:]] if tuple(argv[:2]) in cli.NESTED else argv
    args = cli.build_parser().parse_args(argv)
    grid = training.parse_grid(args.grid)
    assert grid
    if args.command == "sweep-validate":
        assert set(grid) <= set(VALIDATE_GRID_KEYS)
    else:
        cells = training.train_cells(training.load_experiment(args.experiment), grid, range(args.seeds), args.out,
                                     epochs=args.epochs)
        assert len(cells) == args.seeds * len(training.cell_names(grid))


def _figures_commands():
    for line in README.splitlines():
        line = line.strip()
        if line.startswith("fluctinit figures"):
            yield shlex.split(line.split("  #")[0])[1:]


@pytest.mark.parametrize("argv", list(_figures_commands()), ids=" ".join)
def test_figures_commands_parse_and_name_items(argv):
    """Each `fluctinit figures` command of the README parses and names only existing items."""
    from fluctinit import cli
    from fluctinit.cli.figures import _check

    args = cli.build_parser().parse_args(argv)
    assert _check(args)


def test_readme_shows_the_committed_figures():
    """Every figure the README shows is committed, under 300 KB, and made by the command it gives."""
    root = Path(__file__).resolve().parents[1]
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README)
    assert {"figures/paper/fig1.png", "figures/paper/fig2.png", "figures/paper/fig3.png",
            "figures/paper/table7.png", "figures/paper/s2.png"} <= set(shown)
    for path in shown:
        f = root / path
        assert f.is_file() and 10_000 < f.stat().st_size < 300_000, path
        assert (f.with_suffix(".json")).is_file()  # the plotted numbers beside it
