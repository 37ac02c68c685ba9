"""Bad `fluctinit train` command lines: each exits 2 with one stderr line naming the option,
before any data are loaded, and leaves every file as it was.

One table, one row per way a command line can be wrong (values, paths, options that do not
apply, results already there, a folder in use, damaged checkpoints); ``test_the_table_covers``
counts the rows per category.  Every row runs in a copy of one small world: tiny copied
Randman configs and an output folder ``runs/`` holding a finished two-seed run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from fluctinit import cli

RUN = "tiny_fluctuation-sigma1_seed0"
SUMMARY = "tiny_fluctuation-sigma1_summary.json"


def _tiny_config(**training) -> dict:
    from fluctinit.training import load_experiment

    c = {k: v for k, v in load_experiment("randman-ff").items() if k != "source"}
    c["name"] = "tiny"
    c["data"].update(samples_per_class=10, split=[8, 1, 1])
    c["network"]["hidden"] = [8]
    c["training"].update(batch_size=40, epochs=1, **training)
    return c


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder with the configs and ``runs/`` holding seeds 0 and 1 of tiny (1 epoch) and their summary."""
    w = tmp_path_factory.mktemp("world")
    (w / "tiny.json").write_text(json.dumps(_tiny_config()))
    (w / "tiny-lr.json").write_text(json.dumps(_tiny_config(lr=0.1)))
    (w / "tiny-badlr.json").write_text(json.dumps(_tiny_config(lr=-1.0)))
    kaiming = _tiny_config()
    kaiming["init"]["method"] = "kaiming"
    (w / "tiny-kaiming.json").write_text(json.dumps(kaiming))
    (w / "broken.json").write_text("{not json")
    (w / "afile").write_text("x")
    argv = ["train", str(w / "tiny.json"), "--seeds", "2", "--out", str(w / "runs"), "--quiet"]
    assert cli.main(argv) == 0
    # The run's files as a later refusal must leave them; the summary's seeds are [0, 1].
    assert json.loads((w / "runs" / SUMMARY).read_text())["seeds"] == [0, 1]
    return w


# ----------------------------------------------------------------------------- preparations
def _rm(*names):
    def prep(w: Path):
        for n in names:
            (w / "runs" / n).unlink()
    return prep


def _mkdir(rel):
    return lambda w: (w / rel).mkdir(parents=True)


def _ckpt(content):
    """Replace seed 0's checkpoint by ``content(w, original_bytes)`` and remove its results
    (an interrupted run: only the checkpoint is there to resume from)."""
    def prep(w: Path):
        p = w / "runs" / f"{RUN}.ckpt"
        original = p.read_bytes()
        (w / "runs" / f"{RUN}.json").unlink()
        content(p, original)
    return prep


def _write(data):
    return lambda p, original: p.write_bytes(data(original) if callable(data) else data)


def _torch(obj):
    return lambda p, original: torch.save(obj() if callable(obj) else obj, p)


def _foreign_weights(p, original):
    ck = torch.load(p, weights_only=True)
    ck["model"] = {k: torch.zeros(3, 3) for k in ck["model"]}
    torch.save(ck, p)


def _bad_types(p, original):
    ck = torch.load(p, weights_only=True)
    ck["epoch"] = "one"
    torch.save(ck, p)


def _summary_seeds(seeds):
    def prep(w: Path):
        p = w / "runs" / SUMMARY
        p.write_text(json.dumps(dict(json.loads(p.read_text()), seeds=seeds)))
    return prep


def _broken_results(w: Path):
    (w / "runs" / f"{RUN}.ckpt").unlink()
    (w / "runs" / f"{RUN}.json").write_text("{half")


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
AS_ROOT = pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")


def _read_only(w: Path):
    os.chmod(w / "runs", 0o500)


# (category, id, argv after `train`, text the one line must hold, preparation, marks)
# "fresh" is an output folder that does not exist; "runs" holds the finished run.
CASES = [
    # --- bad values for every option
    ("value", "unknown-experiment", ["no-such-thing", "--out", "fresh"], "`experiment`", None, ()),
    ("value", "missing-config-file", ["missing.json", "--out", "fresh"], "missing.json", None, ()),
    ("value", "config-not-json", ["broken.json", "--out", "fresh"], "`experiment`", None, ()),
    ("value", "config-field-out-of-range", ["tiny-badlr.json", "--out", "fresh"], "`training.lr`", None, ()),
    ("value", "epochs-negative", ["tiny.json", "--out", "fresh", "--epochs", "-1"], "`--epochs`", None, ()),
    ("value", "epochs-not-int", ["tiny.json", "--out", "fresh", "--epochs", "1.5"], "--epochs", None, ()),
    ("value", "seed-negative", ["tiny.json", "--out", "fresh", "--seed", "-1"], "`--seed`", None, ()),
    ("value", "seed-not-int", ["tiny.json", "--out", "fresh", "--seed", "x"], "--seed", None, ()),
    ("value", "seeds-zero", ["tiny.json", "--out", "fresh", "--seeds", "0"], "`--seeds`", None, ()),
    ("value", "seeds-one", ["tiny.json", "--out", "fresh", "--seeds", "1"], "`--seeds`", None, ()),
    ("value", "seed-and-seeds", ["tiny.json", "--out", "fresh", "--seed", "1", "--seeds", "2"], "--seeds", None, ()),
    ("value", "sigma-u-negative", ["tiny.json", "--out", "fresh", "--sigma-u", "-1"], "`--sigma-u`", None, ()),
    ("value", "sigma-u-zero", ["tiny.json", "--out", "fresh", "--sigma-u", "0"], "`--sigma-u`", None, ()),
    ("value", "sigma-u-nan", ["tiny.json", "--out", "fresh", "--sigma-u", "nan"], "`--sigma-u`", None, ()),
    ("value", "sigma-u-inf", ["tiny.json", "--out", "fresh", "--sigma-u", "inf"], "`--sigma-u`", None, ()),
    ("value", "sigma-u-not-number", ["tiny.json", "--out", "fresh", "--sigma-u", "one"], "--sigma-u", None, ()),
    ("value", "init-unknown", ["tiny.json", "--out", "fresh", "--init", "xavier"], "--init", None, ()),
    ("value", "surrogate-unknown", ["tiny.json", "--out", "fresh", "--surrogate", "relu"], "--surrogate", None, ()),
    ("value", "device-unknown", ["tiny.json", "--out", "fresh", "--device", "tpu"], "--device", None, ()),
    ("value", "device-cuda-without-cuda", ["tiny.json", "--out", "fresh", "--device", "cuda"], "`--device`", None,
     (NO_CUDA,)),
    ("value", "resume-and-overwrite", ["tiny.json", "--out", "runs", "--resume", "--overwrite"], "--overwrite",
     None, ()),
    ("value", "data-root-without-the-files", ["shd-ff", "--out", "fresh", "--data-root", "."], "--data-root",
     None, ()),
    # --- output paths that cannot be written (checked before any data are made)
    ("path", "out-empty", ["tiny.json", "--out", ""], "`--out`", None, ()),
    ("path", "out-is-a-file", ["tiny.json", "--out", "afile"], "`--out`", None, ()),
    ("path", "out-under-a-file", ["tiny.json", "--out", "afile/sub"], "`--out`", None, ()),
    ("path", "results-path-is-a-folder", ["tiny.json", "--out", "fresh"], "`--out`",
     _mkdir(f"fresh/{RUN}.json"), ()),
    ("path", "checkpoint-path-is-a-folder", ["tiny.json", "--out", "fresh"], "`--out`",
     _mkdir(f"fresh/{RUN}.ckpt"), ()),
    ("path", "summary-path-is-a-folder", ["tiny.json", "--out", "fresh", "--seeds", "2"], "`--out`",
     _mkdir(f"fresh/{SUMMARY}"), ()),
    ("path", "out-read-only", ["tiny.json", "--out", "runs/sub"], "`--out`", _read_only, (AS_ROOT,)),
    # --- options that do not apply
    ("inapplicable", "sigma-u-with-kaiming", ["tiny.json", "--out", "fresh", "--init", "kaiming", "--sigma-u", "1"],
     "`--sigma-u` does not apply to init kaiming", None, ()),
    ("inapplicable", "sigma-u-with-a-kaiming-config", ["tiny-kaiming.json", "--out", "fresh", "--sigma-u", "0.5"],
     "`--sigma-u` does not apply to init kaiming", None, ()),
    ("inapplicable", "data-root-for-randman", ["tiny.json", "--out", "fresh", "--data-root", "data"],
     "`--data-root` does not apply to dataset randman", None, ()),
    ("inapplicable", "strict-for-randman", ["tiny.json", "--out", "fresh", "--strict"],
     "`--strict` does not apply to dataset randman", None, ()),
    ("inapplicable", "kaiming-on-dale", ["shd-dale", "--out", "fresh", "--init", "kaiming"], "`--init`", None, ()),
    # --- results already there
    ("existing", "same-run-again", ["tiny.json", "--out", "runs"], "`--out`", None, ()),
    ("existing", "same-run-more-epochs", ["tiny.json", "--out", "runs", "--epochs", "2"], "`--out`", None, ()),
    ("existing", "only-the-checkpoint", ["tiny.json", "--out", "runs"], "`--out`", _rm(f"{RUN}.json"), ()),
    ("existing", "only-the-results", ["tiny.json", "--out", "runs"], "`--out`", _rm(f"{RUN}.ckpt"), ()),
    ("existing", "only-the-summary", ["tiny.json", "--out", "runs", "--seeds", "2"], "`--out`",
     _rm(f"{RUN}.json", f"{RUN}.ckpt", "tiny_fluctuation-sigma1_seed1.json", "tiny_fluctuation-sigma1_seed1.ckpt"),
     ()),
    ("existing", "resume-other-settings", ["tiny-lr.json", "--out", "runs", "--resume"], "training.lr", None, ()),
    ("existing", "resume-fewer-epochs", ["tiny.json", "--out", "runs", "--resume", "--epochs", "0"], "`--epochs`",
     None, ()),
    ("existing", "resume-results-of-other-settings-no-checkpoint", ["tiny-lr.json", "--out", "runs", "--resume"],
     "training.lr", _rm(f"{RUN}.ckpt"), ()),
    ("existing", "resume-more-epochs-no-checkpoint", ["tiny.json", "--out", "runs", "--resume", "--epochs", "2"],
     "`--resume`", _rm(f"{RUN}.ckpt"), ()),
    ("existing", "resume-summary-of-more-seeds", ["tiny.json", "--out", "runs", "--resume", "--seeds", "2"],
     "`--resume`", _summary_seeds([0, 1, 2]), ()),
    ("existing", "resume-broken-results", ["tiny.json", "--out", "runs", "--resume"], "`--out`", _broken_results,
     ()),
    # --- a folder in use (the lock is held by the test while the command runs)
    ("busy", "folder-in-use", ["tiny.json", "--out", "runs", "--overwrite"], "`--out`", None, ()),
    ("busy", "folder-in-use-resume", ["tiny.json", "--out", "runs", "--resume", "--epochs", "2"], "`--out`", None,
     ()),
    ("busy", "new-folder-in-use", ["tiny.json", "--out", "fresh"], "`--out`", _mkdir("fresh"), ()),
    # --- checkpoints that are not ours (--resume of an interrupted run)
    ("checkpoint", "empty", ["tiny.json", "--out", "runs", "--resume"], "an empty file", _ckpt(_write(b"")), ()),
    ("checkpoint", "truncated-half", ["tiny.json", "--out", "runs", "--resume"], "truncated",
     _ckpt(_write(lambda b: b[: len(b) // 2])), ()),
    ("checkpoint", "truncated-tail", ["tiny.json", "--out", "runs", "--resume"], "truncated",
     _ckpt(_write(lambda b: b[:-8])), ()),
    ("checkpoint", "random-bytes", ["tiny.json", "--out", "runs", "--resume"], "not a torch file",
     _ckpt(_write(bytes(range(256)) * 4)), ()),
    ("checkpoint", "a-tensor", ["tiny.json", "--out", "runs", "--resume"], "Tensor", _ckpt(_torch(torch.zeros(3))),
     ()),
    ("checkpoint", "a-dict-of-something-else", ["tiny.json", "--out", "runs", "--resume"], "without",
     _ckpt(_torch({"weights": torch.zeros(3)})), ()),
    ("checkpoint", "a-pickled-object", ["tiny.json", "--out", "runs", "--resume"], "objects other than tensors",
     _ckpt(_torch(lambda: {"args": argparse.Namespace(a=1)})), ()),
    ("checkpoint", "wrong-field-types", ["tiny.json", "--out", "runs", "--resume"], "epoch", _ckpt(_bad_types),
     ()),
    ("checkpoint", "weights-of-another-model", ["tiny.json", "--out", "runs", "--resume"], "do not fit",
     _ckpt(_foreign_weights), ()),
]


def _main(argv) -> int:
    """``cli.main``; argparse's own refusals (bad types, unknown choices) exit via SystemExit."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, size and modification time."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


@pytest.mark.parametrize(
    "category, argv, text, prep",
    [pytest.param(c, a, t, p, id=f"{c}-{i}", marks=m) for c, i, a, t, p, m in CASES],
)
def test_bad_command_line_exits_2_with_one_line_and_writes_nothing(
    category, argv, text, prep, world, tmp_path, monkeypatch, capsys
):
    from fluctinit._io import FolderLock

    w = tmp_path / "w"
    shutil.copytree(world, w, symlinks=True)
    if prep is not None:
        prep(w)
    monkeypatch.chdir(w)
    before = _snapshot(w)
    try:
        if category == "busy":
            out = w / argv[argv.index("--out") + 1]
            with FolderLock(out):
                before = _snapshot(w)  # the holder's lock file is the holder's write
                code = _main(["train", *argv])
        else:
            code = _main(["train", *argv])
    finally:
        os.chmod(w / "runs", 0o755)
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("fluctinit train: error: "), err
    assert text in err, err
    assert "Traceback" not in err and captured.out == ""
    assert _snapshot(w) == before  # nothing written, created or removed


def test_the_table_covers_every_category():
    counts = Counter(c for c, *_ in CASES)
    assert counts == {"value": 22, "path": 7, "inapplicable": 5, "existing": 11, "busy": 3, "checkpoint": 9}
    assert len({i for _, i, *_ in CASES}) == len(CASES) == 57
    # every train option has at least one bad value in the table
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    train = sub.choices["train"]
    flags = {s for a in train._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
    used = {x for _, _, a, *_ in CASES for x in a if x.startswith("--")}
    assert flags - used <= {"--quiet"}, flags - used
