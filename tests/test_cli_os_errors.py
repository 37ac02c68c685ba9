"""Failures of the machine, not of the input: a full disk and a closed pipe end in one line
(or quietly), never in a traceback."""

import errno
import subprocess
import sys

from fluctinit import cli


def test_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import fluctinit._io as io

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "t.csv"))

    monkeypatch.setattr(io.tempfile, "mkstemp", full)  # every atomic write starts with its temporary file
    code = cli.main(["validate", "poisson", "--out", str(tmp_path / "t.csv"), "--duration", "0.2", "--trials", "2",
                     "--neurons", "4"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "No space left on device" in err and "t.csv" in err, err
    assert not (tmp_path / "t.csv").exists()


def test_output_to_a_closed_pipe_ends_quietly():
    # `fluctinit experiments | true`: the reader is gone before the first line is written (a
    # plain `print` there raises BrokenPipeError and exits 1 with a traceback)
    cmd = f"{sys.executable} -m fluctinit experiments | true"
    out = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "BrokenPipeError" not in out.stderr, out.stderr
