"""`fluctinit data ...`: exit codes, one-line errors, download via a local server."""

import gzip
import hashlib
import subprocess
import sys

import numpy as np
import pytest

from fluctinit import cli

from test_data_shd import random_split, serve, write_shd


@pytest.fixture
def shd_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "shd"
    root.mkdir()
    for name, n in (("shd_train.h5", 20), ("shd_test.h5", 5)):
        write_shd(root / name, *random_split(rng, n))
    return root


def test_shd_summary(shd_dir, capsys):
    assert cli.main(["data", "shd", "--root", str(shd_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("shd train: 18 samples, 700 units, 0.7 s = 350 steps")
    assert out[2].startswith("shd test: 5 samples")


def test_shd_missing_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["data", "shd", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shd_train.h5" in err and "Traceback" not in err


def test_shd_malformed_is_one_line_exit_2(tmp_path, capsys):
    write_shd(tmp_path / "shd_train.h5", [[0.1]], [[800]], [0])
    write_shd(tmp_path / "shd_test.h5", [[0.1]], [[1]], [0])
    assert cli.main(["data", "shd", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shd_train.h5" in err and "[0, 700)" in err


def test_shd_download_with_server_checksums(tmp_path, shd_dir, capsys):
    site = tmp_path / "site" / "datasets"
    site.mkdir(parents=True)
    lines = []
    for name in ("shd_train.h5", "shd_test.h5"):
        blob = gzip.compress((shd_dir / name).read_bytes())
        (site / (name + ".gz")).write_bytes(blob)
        lines.append(f"{hashlib.md5(blob).hexdigest()}  {name}.gz\n")
    (site / "md5sums.txt").write_text("".join(lines))
    dest = tmp_path / "dest"
    with serve(tmp_path / "site") as url:
        rc = cli.main(["data", "shd", "--root", str(dest), "--download", "--base-url", url,
                       "--checksums", "server", "--timeout", "10"])
        assert rc == 0, capsys.readouterr().err
        # pinned (official) checksums cannot match generated files: exit 2, one line
        rc = cli.main(["data", "shd", "--root", str(tmp_path / "other"), "--download",
                       "--base-url", url, "--timeout", "10"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MD5 checksum mismatch" in err
    assert (dest / "shd_test.h5").read_bytes() == (shd_dir / "shd_test.h5").read_bytes()


def test_bad_dt_names_the_flag(shd_dir, capsys):
    assert cli.main(["data", "shd", "--root", str(shd_dir), "--dt", "-1"]) == 2
    assert "`--dt`" in capsys.readouterr().err


def test_randman_summary(tmp_path, capsys, monkeypatch):
    from fluctinit import datasets

    small = dict(samples_per_class=20, n_train=10, n_valid=5, n_test=5, max_terms=50)
    real = datasets.make_randman
    monkeypatch.setattr(datasets, "make_randman", lambda **kw: real(**kw, **small))
    assert cli.main(["data", "randman", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "randman train: 100 samples, 20 units, 0.2 s = 100 steps" in out
    assert "mean rate 5.000 Hz" in out


def test_parser_does_not_import_torch():
    code = ("import sys; from fluctinit import cli; "
            "cli.build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
