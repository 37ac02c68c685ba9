"""`fluctinit data fsdd`: FSDD recordings through the cochlea into SHD's layout.

Real recordings from ../shared/fsdd (a few short ones, 32 channels to keep the suite fast):
the files read back through the SHD loader, the split, determinism across workers, resume after
a kill, the refusals (bad audio, existing outputs, changed settings) and the verified download.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest

from fluctinit import cli
from fluctinit.datasets import (FSDD_FILES, convert_fsdd, fsdd_checksums, fsdd_file, load_fsdd,
                                read_wav, scan_recordings, validate_shd_file)
from fluctinit.datasets import fsdd as F

CH = 32
# two speakers, indices in FSDD's test range (0-4) and its training range (5-49), short ones
PICK = ("6_yweweler_3.wav", "6_yweweler_1.wav", "6_yweweler_17.wav", "6_nicolas_7.wav",
        "6_nicolas_9.wav", "2_theo_34.wav")


@pytest.fixture
def audio(tmp_path, fsdd_recordings):
    d = tmp_path / "audio"
    d.mkdir()
    for name in PICK:
        shutil.copy(fsdd_recordings / name, d / name)
    return d


def _read(path):
    with h5py.File(path, "r") as fh:
        return {"times": [np.asarray(t) for t in fh["spikes/times"][()]],
                "units": [np.asarray(u) for u in fh["spikes/units"][()]],
                "labels": fh["labels"][()],
                "filename": [s.decode() for s in fh["extra/filename"][()]],
                "speaker": fh["extra/speaker"][()],
                "speakers": [s.decode() for s in fh["extra/speakers"][()]],
                "attrs": dict(fh.attrs)}


def _same(a, b):
    assert a["filename"] == b["filename"]
    for x, y in zip(a["times"], b["times"]):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a["units"], b["units"]):
        np.testing.assert_array_equal(x, y)


def test_checksums_match_the_shared_recordings(fsdd_recordings):
    sums = fsdd_checksums()
    assert len(sums) == 3000
    on_disk = sorted(p.name for p in fsdd_recordings.glob("*.wav"))
    assert sorted(sums) == on_disk
    for name in on_disk[::97]:
        assert hashlib.sha256((fsdd_recordings / name).read_bytes()).hexdigest() == sums[name]


def test_convert_layout_read_back_by_the_shd_loader(audio, tmp_path):
    out = tmp_path / "out"
    paths = convert_fsdd(audio, out, channels=CH, workers=1, seed=3, progress=False)
    assert set(paths) == {"train", "test"} and not (out / F.PARTS).exists()
    test, train = _read(paths["test"]), _read(paths["train"])
    # FSDD's own split: indices 0-4 are test
    assert test["filename"] == ["6_yweweler_1.wav", "6_yweweler_3.wav"]
    assert all(int(n.split("_")[2][:-4]) >= 5 for n in train["filename"])
    assert len(test["filename"]) + len(train["filename"]) == len(PICK)
    for part in (test, train):
        np.testing.assert_array_equal(part["labels"], [int(n[0]) for n in part["filename"]])
        assert [part["speakers"][i] for i in part["speaker"]] == [n.split("_")[1] for n in part["filename"]]
        assert part["attrs"]["channels"] == CH and "CC BY-SA 4.0" in part["attrs"]["license"]
        assert "not SHD" in part["attrs"]["dataset"]
        for t, u, n in zip(part["times"], part["units"], part["filename"]):
            assert t.dtype == np.float32 and u.dtype == np.uint16
            assert t.size > 100 and u.max() < CH and np.all(np.diff(t) >= 0)
            assert t.max() < read_wav(audio / n).shape[0] / 8000
    # the SHD reader accepts the files as they are
    t, u, c, y = validate_shd_file(paths["train"], n_units=CH, n_classes=10)
    assert c.sum() == sum(x.size for x in train["times"]) and list(y) == list(train["labels"])
    ds = fsdd_file(paths["test"], duration=0.1)
    assert ds.n_units == CH and len(ds) == len(test["filename"]) and ds.times.max() < 0.1
    splits = load_fsdd(out, valid_fraction=0.0)
    assert len(splits.train) == len(train["filename"]) and len(splits.valid) == 0


def test_held_out_speaker_and_workers_give_the_same_spikes(audio, tmp_path):
    a = convert_fsdd(audio, tmp_path / "a", channels=CH, workers=1, test_speaker="nicolas", progress=False)
    b = convert_fsdd(audio, tmp_path / "b", channels=CH, workers=2, test_speaker="nicolas", progress=False)
    ta, tb = _read(a["test"]), _read(b["test"])
    assert ta["filename"] == ["6_nicolas_7.wav", "6_nicolas_9.wav"]
    assert "nicolas" not in " ".join(_read(a["train"])["filename"])
    _same(ta, tb)
    _same(_read(a["train"]), _read(b["train"]))
    # the spikes of a recording depend on the seed and its name, not on its company
    c = convert_fsdd(audio, tmp_path / "c", channels=CH, workers=1, progress=False)
    both = {n: t for n, t in zip(_read(c["test"])["filename"] + _read(c["train"])["filename"],
                                 _read(c["test"])["times"] + _read(c["train"])["times"])}
    for n, t in zip(ta["filename"], ta["times"]):
        np.testing.assert_array_equal(both[n], t)
    d = convert_fsdd(audio, tmp_path / "d", channels=CH, workers=1, seed=1, progress=False)
    assert not np.array_equal(_read(d["train"])["times"][0], _read(c["train"])["times"][0])


def test_unknown_test_speaker_is_refused_before_work(audio, tmp_path):
    with pytest.raises(ValueError, match=r"`test_speaker` must be one of the speakers \['nicolas', 'theo', 'yweweler'\]; got 'bob'"):
        convert_fsdd(audio, tmp_path / "o", test_speaker="bob")
    assert not (tmp_path / "o").exists()


def _wav(path, data, rate=8000):
    from scipy.io import wavfile

    wavfile.write(path, rate, data)


@pytest.mark.parametrize("make, match", [
    (lambda p: p.write_bytes(b"RIFF\x00\x00not a wav at all"), "not a readable WAV file"),
    (lambda p: _wav(p, np.zeros((400, 2), np.int16) + 3), "must be mono; got 2 channels"),
    (lambda p: _wav(p, np.ones(400, np.int16), rate=16000), "sample rate must be 8000 Hz; got 16000 Hz"),
    (lambda p: _wav(p, np.zeros(400, np.int16)), "is silent"),
    (lambda p: _wav(p, np.ones(10, np.int16)), "at least 64 samples; got 10"),
])
def test_bad_audio_is_one_line_naming_the_file_and_nothing_is_written(audio, tmp_path, capsys, make, match):
    bad = audio / "3_bad_0.wav"
    make(bad)
    out = tmp_path / "new" / "out"
    rc = cli.main(["data", "fsdd", "--audio", str(audio), "--out", str(out), "--channels", str(CH)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and match in err
    assert not (tmp_path / "new").exists()


def test_bad_names_options_and_empty_folders(audio, tmp_path, capsys):
    (audio / "hello.wav").write_bytes(b"")
    assert cli.main(["data", "fsdd", "--audio", str(audio), "--out", str(tmp_path / "o")]) == 2
    assert "hello.wav: the name must be {digit}_{speaker}_{index}.wav" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["data", "fsdd", "--audio", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no *.wav files in" in capsys.readouterr().err
    for flag, value, msg in (("--channels", "0", "`--channels` must be an integer >= 1"),
                             ("--workers", "0", "`--workers` must be an integer >= 1"),
                             ("--dt", "1", "`dt` must be a time step")):
        assert cli.main(["data", "fsdd", "--audio", str(empty), "--out", str(tmp_path / "o"), flag, value]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg.split(" must")[0].strip("`-") in err, err
    assert cli.main(["data", "fsdd", "--audio", str(empty), "--out", str(tmp_path / "o"),
                     "--url", "http://x"]) == 2
    assert "--url" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_existing_outputs_are_refused_and_overwrite_replaces(audio, tmp_path, capsys):
    out = tmp_path / "out"
    convert_fsdd(audio, out, channels=CH, progress=False)
    before = (out / FSDD_FILES["train"]).stat().st_mtime_ns
    assert cli.main(["data", "fsdd", "--audio", str(audio), "--out", str(out), "--channels", str(CH)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / FSDD_FILES["train"]).stat().st_mtime_ns == before
    assert cli.main(["data", "fsdd", "--audio", str(audio), "--out", str(out), "--channels", str(CH),
                     "--overwrite", "--workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "fsdd train:" in lines[0] and "not SHD" in lines[0]


def test_resume_after_kill_gives_the_uninterrupted_result(audio, tmp_path):
    ch = 700  # about 0.3 s a recording: slow enough to be killed between two of them
    ref = convert_fsdd(audio, tmp_path / "ref", channels=ch, workers=1, progress=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from fluctinit.cli import main; raise SystemExit(main())", "data", "fsdd",
           "--audio", str(audio), "--out", str(out), "--channels", str(ch), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    parts = out / F.PARTS
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("*.npz"))) < 2 and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("*.npz")))
    assert 2 <= done < len(PICK), "the kill must land mid-conversion"
    assert not any((out / n).exists() for n in FSDD_FILES.values())
    # a resumed run with other settings is refused, naming them
    with pytest.raises(ValueError, match="other settings \\(channels: channels was 700, now 16"):
        convert_fsdd(audio, out, channels=16, progress=False)
    convert_fsdd(audio, out, channels=ch, workers=1, progress=False)
    for split in ("train", "test"):
        _same(_read(out / FSDD_FILES[split]), _read(ref[split]))
    assert not parts.exists()


def _zip(path, folder, names, corrupt=None):
    with zipfile.ZipFile(path, "w") as zf:
        for n in names:
            data = (folder / n).read_bytes()
            if n == corrupt:
                data = data[:-1] + bytes([data[-1] ^ 1])
            zf.writestr(f"free-spoken-digit-dataset-abc/recordings/{n}", data)
        zf.writestr("free-spoken-digit-dataset-abc/README.md", "FSDD")


def test_download_verifies_every_recording(audio, tmp_path, monkeypatch, capsys):
    sums = {n: hashlib.sha256((audio / n).read_bytes()).hexdigest() for n in PICK}
    monkeypatch.setattr(F, "fsdd_checksums", lambda: sums)
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    _zip(good, audio, PICK)
    _zip(bad, audio, PICK, corrupt=PICK[2])
    dest = tmp_path / "dl"
    with pytest.raises(ValueError, match=f"{PICK[2]}: SHA-256 mismatch"):
        F.download_fsdd(dest, url=bad.as_uri())
    assert not dest.exists()
    got = F.download_fsdd(dest, url=good.as_uri())
    assert sorted(p.name for p in got.glob("*.wav")) == sorted(PICK)
    assert [p.name for p in dest.iterdir()] == ["recordings"]
    # offline: one line saying what to pass instead
    rc = cli.main(["data", "fsdd", "--out", str(tmp_path / "o2"), "--download-to", str(tmp_path / "dl2"),
                   "--url", "http://127.0.0.1:9/fsdd.zip", "--timeout", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "could not download FSDD" in err and "--audio" in err
    assert not (tmp_path / "dl2").exists() and not (tmp_path / "o2").exists()
    assert len(scan_recordings(got)) == len(PICK)


def test_model_rate_resamples_before_the_cochlea(audio, tmp_path, capsys):
    """At 16 kHz the chain's hair cells step at 8 kHz, not 4 kHz: fewer spikes (docs/fsdd.md),
    the times on the finer grid, the durations those of the recordings."""
    a = convert_fsdd(audio, tmp_path / "a", channels=CH, progress=False)
    b = convert_fsdd(audio, tmp_path / "b", channels=CH, model_rate=16000, progress=False)
    ra, rb = _read(a["train"]), _read(b["train"])
    assert rb["attrs"]["model_rate"] == 16000 and ra["attrs"]["model_rate"] == 8000
    assert sum(t.size for t in rb["times"]) < 0.5 * sum(t.size for t in ra["times"])
    steps = np.concatenate(rb["times"]).astype(np.float64) * 4000
    assert np.any(np.abs(steps - np.round(steps)) > 0.25)  # half-steps of the 4 kHz grid occur
    with h5py.File(a["train"]) as fa, h5py.File(b["train"]) as fb:
        np.testing.assert_array_equal(fa["extra/duration"][()], fb["extra/duration"][()])
    assert cli.main(["data", "fsdd", "--audio", str(audio), "--out", str(tmp_path / "c"),
                     "--model-rate", "10"]) == 2
    assert "`--model-rate` must be an integer" in capsys.readouterr().err


def test_progress_in_a_log_is_plain_lines(audio, tmp_path, capsys):
    assert cli.main(["data", "fsdd", "--audio", str(audio), "--out", str(tmp_path / "o"), "--channels",
                     str(CH), "--workers", "1"]) == 0
    err = capsys.readouterr().err.splitlines()  # pytest's stderr is no terminal
    assert err and all(line.startswith("fsdd: ") and "recordings/s" in line for line in err)
    assert err[-1].startswith(f"fsdd: {len(PICK)}/{len(PICK)} recordings (100 %)")
    assert "\r" not in "".join(err)
    assert cli.main(["data", "fsdd", "--audio", str(audio), "--out", str(tmp_path / "q"), "--channels",
                     str(CH), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
