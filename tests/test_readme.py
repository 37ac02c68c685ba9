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
