"""Free Spoken Digit Dataset (FSDD) through SHD's cochlear model, into SHD's file layout.

FSDD (github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0, the FSDD contributors):
3,000 recordings of the digits 0-9 by 6 English speakers, mono 8 kHz, named
``{digit}_{speaker}_{index}.wav``.  :func:`convert_fsdd` passes every recording through the
chain that made SHD (:mod:`.cochlea`) and writes ``fsdd_train.h5`` and ``fsdd_test.h5`` in SHD's
layout -- ``spikes/times`` (float32 s), ``spikes/units`` (uint16, ``0..channels-1``), ``labels``
(uint16, the digit) -- plus ``extra/speaker`` (uint16 index into ``extra/speakers``),
``extra/speakers`` and ``extra/filename`` (each sample's recording), ``extra/keys`` (the digit
names) and attributes with the attribution, licence, channels, seed, split and code version.
The result is real audio-derived spike data: **not SHD**, and never to be reported as SHD.

Split (documented and seeded): by default FSDD's own -- recordings 0-4 of every (digit, speaker)
are the test file, 5-49 the training file (10 %; every speaker in both).  ``test_speaker=NAME``
instead holds out that speaker entirely.  The spike stage is stochastic; each recording gets its
own generator ``SeedSequence([seed, crc32(file name)])``, so the spikes of a recording do not
depend on the number of workers, the order, or an interruption.

Conversion is atomic and resumable: each finished recording is saved (atomically) under
``OUT/.fsdd-parts/`` beside a manifest of the settings; a killed conversion goes on where it
stopped (a different ``channels``, ``seed`` or split is refused, naming the difference); the two
``.h5`` files appear only when every recording is done, and the parts are removed afterwards.
Every input file is read and checked before any work (mono, the sample rate, a valid WAV, at
least :data:`MIN_SAMPLES` samples, the name pattern): a bad file is one :class:`DataError`
naming it, and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import warnings
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluctinit._io import FolderLock, atomic_path, atomic_write_json, check_output_path, remove_stale_temps
from fluctinit.errors import Integer, Interval, ParameterError, check

from ._paths import created_folders, input_root, remove_created
from .cochlea import BasilarMembrane, Cochlea, cochlea_spikes
from .download import fetch
from .download import network_failure
from .shd import ShdSplits, load_file_splits, read_spike_file, write_spike_file
from .spikes import DataError, SpikeDataset

__all__ = [
    "FSDD_FILES",
    "FSDD_N_CLASSES",
    "FSDD_DURATION",
    "FSDD_SAMPLE_RATE",
    "FSDD_COMMIT",
    "FSDD_URL",
    "FSDD_ATTRIBUTION",
    "FsddRecording",
    "read_wav",
    "scan_recordings",
    "fsdd_checksums",
    "download_fsdd",
    "convert_fsdd",
    "load_fsdd",
    "fsdd_file",
    "spike_file_units",
]

FSDD_FILES = {"train": "fsdd_train.h5", "test": "fsdd_test.h5"}
FSDD_N_CLASSES = 10
#: seconds kept per sample when loading (as SHD's 0.7 s; 96 % of FSDD's recordings are shorter)
FSDD_DURATION = 0.7
FSDD_SAMPLE_RATE = 8000
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip"
FSDD_ATTRIBUTION = ("Free Spoken Digit Dataset (FSDD), the FSDD contributors, "
                    f"github.com/Jakobovski/free-spoken-digit-dataset commit {FSDD_COMMIT}, "
                    "CC BY-SA 4.0; spikes derived through SHD's cochlear model (lauscher's chain, "
                    "vectorized in fluctinit.datasets.cochlea); not SHD")
FSDD_LICENSE = "CC BY-SA 4.0"
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: the shortest recording accepted (FSDD's shortest has 1,148 samples)
MIN_SAMPLES = 64
#: FSDD's own test split: recordings with these indices
TEST_INDICES = range(0, 5)
PARTS = ".fsdd-parts"
_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")

FSDD_CONSTRAINTS = {
    "channels": Integer(low=1, high=65535),
    "workers": Integer(low=1, high=256),
    "seed": Integer(low=0, high=2**63 - 1),
    "sample_rate": Integer(low=1000, high=384000),
    "model_rate": Integer(low=1000, high=384000),
    "timeout": Interval(0.0, 3600.0, closed="right"),
}


@dataclass(frozen=True)
class FsddRecording:
    """One recording: its path, the digit (label), speaker and index from its name."""

    path: Path
    digit: int
    speaker: str
    index: int

    @property
    def name(self) -> str:
        return self.path.name


def read_wav(path: str | os.PathLike, sample_rate: int = FSDD_SAMPLE_RATE) -> np.ndarray:
    """A mono WAV file's samples as float64 in [-1, 1) (integer PCM divided by its full scale).

    Raises:
        DataError: naming the file -- not a readable WAV, more than one channel, another sample
            rate, fewer than :data:`MIN_SAMPLES` samples, or silence (the RMS normalization
            would divide by zero).
    """
    from scipy.io import wavfile

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable WAV file ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    if data.ndim != 1:
        raise DataError(f"{path}: must be mono; got {data.shape[1]} channels")
    if rate != sample_rate:
        raise DataError(f"{path}: sample rate must be {sample_rate} Hz; got {rate} Hz")
    if data.shape[0] < MIN_SAMPLES:
        raise DataError(f"{path}: must hold at least {MIN_SAMPLES} samples; got {data.shape[0]}")
    if data.dtype.kind in "iu":
        info = np.iinfo(data.dtype)
        x = data.astype(np.float64)
        if data.dtype.kind == "u":  # 8-bit WAV is unsigned, centred on 128
            x -= (info.max + 1) / 2
            x /= (info.max + 1) / 2
        else:
            x /= -float(info.min)
    else:
        x = data.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: holds non-finite samples")
    if not np.any(x != 0):
        raise DataError(f"{path}: is silent (every sample 0)")
    return x


def scan_recordings(audio: str | os.PathLike, sample_rate: int = FSDD_SAMPLE_RATE,
                    *, check_audio: bool = True) -> list[FsddRecording]:
    """Every ``*.wav`` in ``audio`` (sorted by digit, speaker, index), each checked.

    Raises:
        ParameterError: ``audio`` not a folder.
        FileNotFoundError: no ``*.wav`` file in it.
        DataError: a file whose name is not ``{digit}_{speaker}_{index}.wav`` or (with
            ``check_audio``) whose content :func:`read_wav` rejects.
    """
    root = input_root("audio", audio, "the FSDD recordings (*.wav)")
    if not root.is_dir():
        raise FileNotFoundError(f"`audio` folder {str(root)!r} does not exist")
    files = sorted(root.glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"no *.wav files in {str(root)!r} (`audio` must hold the FSDD "
                                f"recordings, e.g. the folder `recordings` of FSDD)")
    out = []
    for f in files:
        m = _NAME.match(f.name)
        if m is None:
            raise DataError(f"{f}: the name must be {{digit}}_{{speaker}}_{{index}}.wav (FSDD's), "
                            f"e.g. 3_jackson_7.wav")
        if check_audio:
            read_wav(f, sample_rate)
        out.append(FsddRecording(f, int(m.group(1)), m.group(2), int(m.group(3))))
    return sorted(out, key=lambda r: (r.digit, r.speaker, r.index))


def _split(recs: list[FsddRecording], test_speaker: str | None) -> dict[str, list[FsddRecording]]:
    if test_speaker is None:
        test = [r for r in recs if r.index in TEST_INDICES]
    else:
        speakers = sorted({r.speaker for r in recs})
        if test_speaker not in speakers:
            raise ParameterError(f"`test_speaker` must be one of the speakers {speakers}; got "
                                 f"{test_speaker!r}", ["test_speaker"], [test_speaker])
        test = [r for r in recs if r.speaker == test_speaker]
    names = {r.name for r in test}
    return {"train": [r for r in recs if r.name not in names], "test": test}


def fsdd_checksums() -> dict[str, str]:
    """``{recording name: SHA-256}`` of the 3,000 recordings at :data:`FSDD_COMMIT`."""
    text = (Path(__file__).parent / "fsdd_sha256.txt").read_text()
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line.strip())}


def download_fsdd(dest: str | os.PathLike, *, url: str = FSDD_URL, timeout: float = 60.0) -> Path:
    """Fetch FSDD's archive at :data:`FSDD_COMMIT`, verify every recording, unpack them.

    The archive is streamed to a temporary file in ``dest``; each ``recordings/*.wav`` member
    must match its SHA-256 in :func:`fsdd_checksums` (all 3,000 present).  The recordings land
    in ``dest/recordings`` only when all are verified (a temporary folder renamed into place),
    together with FSDD's README and licence note.  Returns ``dest/recordings``; an existing
    complete ``dest/recordings`` is verified and kept.

    Raises:
        FileNotFoundError: the server cannot be reached (offline) -- one line saying what to
            pass instead.
        DataError: a checksum mismatch, a missing recording or a corrupt archive; nothing kept.
    """
    timeout = check("timeout", timeout, FSDD_CONSTRAINTS["timeout"])
    dest = check_output_path("audio_dir", dest, kind="dir")
    expected = fsdd_checksums()
    final = dest / "recordings"
    if final.is_dir() and all((final / n).is_file() for n in expected):
        _verify_folder(final, expected)
        return final
    created = created_folders(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        tmp_zip, _ = fetch(url, dest, timeout=timeout, prefix=".tmp-fsdd.", suffix=".tmp")
        try:
            stage = Path(tempfile.mkdtemp(dir=dest, prefix=".tmp-fsdd-recordings."))
            try:
                _unpack_verified(tmp_zip, stage, expected, url)
                if final.exists():
                    shutil.rmtree(final)
                os.replace(stage, final)
            finally:
                if stage.exists():
                    shutil.rmtree(stage)
        finally:
            tmp_zip.unlink(missing_ok=True)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        remove_created(created)
        _, reason = network_failure(err, url)
        raise FileNotFoundError(
            f"could not download FSDD from {url} ({reason}); pass `--audio DIR` with the "
            f"recordings instead (FSDD's folder `recordings`, e.g. ../shared/fsdd/recordings)") from None
    except BaseException:
        remove_created(created)
        raise
    return final


def _verify_folder(folder: Path, expected: dict[str, str]) -> None:
    for name, digest in expected.items():
        got = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if got != digest:
            raise DataError(f"{folder / name}: SHA-256 mismatch: expected {digest}, got {got}")


def _unpack_verified(archive: Path, stage: Path, expected: dict[str, str], url: str) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{url}: not a valid zip archive ({err})") from None
    seen = set()
    with zf:
        for info in zf.infolist():
            parts = info.filename.split("/")
            if len(parts) >= 2 and parts[-2] == "recordings" and parts[-1] in expected:
                try:
                    data = zf.read(info)
                except (zipfile.BadZipFile, zlib.error, OSError) as err:
                    raise DataError(f"{url}: corrupt member {info.filename} ({err})") from None
                got = hashlib.sha256(data).hexdigest()
                if got != expected[parts[-1]]:
                    raise DataError(f"{url}: {parts[-1]}: SHA-256 mismatch: expected "
                                    f"{expected[parts[-1]]}, got {got}; nothing was kept")
                (stage / parts[-1]).write_bytes(data)
                seen.add(parts[-1])
            elif len(parts) == 2 and parts[1] in ("README.md", "metadata.py"):
                (stage / parts[1]).write_bytes(zf.read(info))
    missing = sorted(set(expected) - seen)
    if missing:
        raise DataError(f"{url}: {len(missing)} of {len(expected)} recordings missing from the "
                        f"archive (first {missing[0]}); nothing was kept")


# --- conversion ------------------------------------------------------------------------------

def _part_path(parts: Path, rec: FsddRecording) -> Path:
    """Where a finished recording's spikes wait for the files to be assembled."""
    return parts / (rec.path.stem + ".npz")


def _recording_seed(seed: int, name: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])


def _convert_one(job: tuple[str, str, int, int, int, int]) -> None:
    """Worker: one recording ``(wav, part, channels, seed, sample rate, model rate)`` through the
    cochlea into its part file."""
    path, part, channels, seed, sample_rate, model_rate = job
    samples = read_wav(path, sample_rate)
    duration = samples.shape[0] / sample_rate
    if model_rate != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(model_rate, sample_rate)
        samples = resample_poly(samples, model_rate // g, sample_rate // g)
    gen = np.random.Generator(np.random.PCG64(_recording_seed(seed, Path(path).name)))
    times, units = cochlea_spikes(samples, model_rate, gen,
                                  Cochlea(membrane=BasilarMembrane(channels=channels)))
    with atomic_path(part) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, times=times.astype(np.float32), units=units.astype(np.uint16),
                     duration=np.float64(duration))


def convert_fsdd(audio: str | os.PathLike, out: str | os.PathLike, *, channels: int = 700,
                 workers: int = 1, seed: int = 0, test_speaker: str | None = None,
                 sample_rate: int = FSDD_SAMPLE_RATE, model_rate: int | None = None,
                 overwrite: bool = False,
                 progress: bool = True) -> dict[str, Path]:
    """Convert every recording in ``audio`` into ``out/fsdd_train.h5`` and ``out/fsdd_test.h5``.

    Args:
        audio: folder of ``{digit}_{speaker}_{index}.wav`` files (FSDD's ``recordings``).
        out: output folder.
        channels: cochlear channels (SHD: 700), the files' units.
        workers: processes converting recordings in parallel.
        seed: seeds the spike stage (per recording, see the module docstring).
        test_speaker: hold this speaker out as the test file (default: FSDD's split by index).
        sample_rate: the rate every file must have (FSDD: 8000 Hz).
        model_rate: resample the audio to this rate (Hz; ``scipy.signal.resample_poly``) before
            the cochlea; default ``sample_rate``.  The chain's stages step at half the audio
            rate, and its hair-cell update is explicit: at 8 kHz audio ``(l + r) dt = 2.27``, so
            the transmitter cleft overshoots and is clipped each step, and the output rate is
            many times what the same recording gives at SHD's 48 kHz (docs/fsdd.md).
        overwrite: replace existing output files (otherwise they are refused).
        progress: report progress on stderr: a tqdm bar on a terminal, otherwise (a log) one
            plain line about every 5 % of the recordings.

    Returns:
        ``{"train": path, "test": path}``.

    Raises:
        ParameterError: an option out of range, ``out`` not writable, existing outputs without
            ``overwrite``, or a resumed conversion with other settings.
        FileNotFoundError / DataError: see :func:`scan_recordings`.
    """
    channels = check("channels", channels, FSDD_CONSTRAINTS["channels"])
    workers = check("workers", workers, FSDD_CONSTRAINTS["workers"])
    seed = check("seed", seed, FSDD_CONSTRAINTS["seed"])
    sample_rate = check("sample_rate", sample_rate, FSDD_CONSTRAINTS["sample_rate"])
    model_rate = sample_rate if model_rate is None else check("model_rate", model_rate,
                                                               FSDD_CONSTRAINTS["model_rate"])
    out = check_output_path("out", out, kind="dir")
    targets = {s: out / n for s, n in FSDD_FILES.items()}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise ParameterError(f"`out` {str(out)!r} already holds {', '.join(existing)}; pass "
                             f"--overwrite to replace them or choose another `out`", ["out"], [str(out)])
    recs = scan_recordings(audio, sample_rate)
    splits = _split(recs, test_speaker)
    settings = {"channels": channels, "seed": seed, "sample_rate": sample_rate, "model_rate": model_rate,
                "split": _split_rule(test_speaker), "recordings": [r.name for r in recs]}
    created = created_folders(out)
    try:
        with FolderLock(out, name="out"):
            parts = out / PARTS
            _check_manifest(parts, settings)
            remove_stale_temps(parts)
            todo = [r for r in recs if not _part_path(parts, r).is_file()]
            _run_jobs([(str(r.path), str(_part_path(parts, r)), channels, seed, sample_rate, model_rate)
                       for r in todo], workers, progress, total=len(recs), done=len(recs) - len(todo))
            _assemble(splits, parts, targets, settings)
            shutil.rmtree(parts)
    except BaseException:
        if not any(p.exists() for p in targets.values()) and not (out / PARTS).exists():
            remove_created(created)
        raise
    return targets


def _split_rule(test_speaker: str | None) -> str:
    if test_speaker is None:
        return "FSDD's own: recordings 0-4 of every digit and speaker are test, 5-49 train"
    return f"speaker {test_speaker!r} held out: all of its recordings are test, the rest train"


def _check_manifest(parts: Path, settings: dict) -> None:
    manifest = parts / "manifest.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        diff = [k for k in settings if old.get(k) != settings[k]]
        if diff:
            raise ParameterError(
                f"`out` holds an unfinished conversion with other settings ({', '.join(diff)}: "
                + "; ".join(f"{k} was {_short(old.get(k))}, now {_short(settings[k])}" for k in diff)
                + f"); rerun with the same settings to resume, or delete {str(parts)!r} to start over",
                ["out"], [str(parts.parent)])
    else:
        parts.mkdir(parents=True, exist_ok=True)
        atomic_write_json(manifest, settings)


def _short(v) -> str:
    return f"{len(v)} recordings" if isinstance(v, list) else repr(v)


class _Progress:
    """A tqdm bar on a terminal; in a log, a plain line at about every 5 % (no bar redraws)."""

    def __init__(self, total: int, done: int, *, enabled: bool):
        import sys
        import time

        from tqdm import tqdm

        self.total, self.done, self.start, self._time = total, done, time.monotonic(), time.monotonic
        self.lines = enabled and not sys.stderr.isatty()
        self.step = max(1, total // 20)
        self.bar = tqdm(total=total, initial=done, unit="rec", desc="fsdd", mininterval=1.0,
                        dynamic_ncols=True, disable=not enabled or self.lines)
        self._first = done

    def update(self, n: int) -> None:
        import sys

        self.bar.update(n)
        self.done += n
        if self.lines and (self.done % self.step == 0 or self.done == self.total):
            took = self._time() - self.start
            rate = (self.done - self._first) / took if took > 0 else 0.0
            print(f"fsdd: {self.done}/{self.total} recordings ({100 * self.done / self.total:.0f} %), "
                  f"{took:.0f} s, {rate:.2f} recordings/s", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def _run_jobs(jobs: list, workers: int, progress: bool, *, total: int, done: int) -> None:
    """Convert ``jobs`` in this process (one worker) or in a pool of forked processes (Linux's
    default; scripts need no ``__main__`` guard), with one bar over all recordings."""
    import multiprocessing as mp

    pool = None
    if workers > 1 and len(jobs) > 1:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                   mp_context=mp.get_context(method))
    bar = _Progress(total, done, enabled=progress)
    try:
        if pool is None:
            for job in jobs:
                _convert_one(job)
                bar.update(1)
        else:
            futures = [pool.submit(_convert_one, j) for j in jobs]
            for fut in as_completed(futures):
                fut.result()
                bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _assemble(splits: dict, parts: Path, targets: dict, settings: dict) -> None:
    from fluctinit.provenance import code_version

    speakers = sorted({r.speaker for recs in splits.values() for r in recs})
    version = code_version()
    for split, recs in splits.items():
        times, units, durations = [], [], []
        for r in recs:
            with np.load(_part_path(parts, r)) as z:
                times.append(z["times"])
                units.append(z["units"])
                durations.append(float(z["duration"]))
        attrs = {
            "dataset": "FSDD through SHD's cochlear model (not SHD)",
            "source": FSDD_ATTRIBUTION,
            "license": FSDD_LICENSE,
            "channels": settings["channels"],
            "seed": settings["seed"],
            "sample_rate": settings["sample_rate"],
            "model_rate": settings["model_rate"],
            "split": f"{split}: " + settings["split"],
            "code_version": json.dumps(version),
        }
        extra = {
            "speaker": np.array([speakers.index(r.speaker) for r in recs], dtype=np.uint16),
            "speakers": speakers,
            "filename": [r.name for r in recs],
            "index": np.array([r.index for r in recs], dtype=np.uint16),
            "duration": np.array(durations, dtype=np.float32),
            "keys": list(DIGIT_NAMES),
        }
        write_spike_file(targets[split], times, units, np.array([r.digit for r in recs]),
                         extra=extra, attrs=attrs)


def load_fsdd(root: str | os.PathLike, *, duration: float = FSDD_DURATION, valid_fraction: float = 0.1,
              seed: int = 0, strict: bool = False) -> ShdSplits:
    """Load ``root/fsdd_train.h5`` and ``root/fsdd_test.h5`` as SHD is loaded (train/valid/test).

    Spikes at ``t >= duration`` are cut, a seeded ``valid_fraction`` of the training file is the
    validation split; units are the files' ``channels`` attribute (700 by default), 10 classes.
    """
    def missing_message(root: Path, missing: list[str]) -> str:
        return (f"FSDD spike files missing in {root}: {', '.join(missing)}; make them with "
                f"`fluctinit data fsdd --audio DIR --out {root}` (DIR: FSDD's recordings, e.g. "
                f"../shared/fsdd/recordings)")

    return load_file_splits(root, FSDD_FILES, missing_message=missing_message,
                            read=lambda path, cut: fsdd_file(path, duration=cut, strict=strict),
                            duration=duration, valid_fraction=valid_fraction, seed=seed)


def fsdd_file(path: str | os.PathLike, *, duration: float = FSDD_DURATION, strict: bool = False) -> SpikeDataset:
    """One converted FSDD file (or any SHD-layout file) as a :class:`SpikeDataset`, cut at ``duration``."""
    return read_spike_file(path, duration=duration, n_units=spike_file_units(path),
                           n_classes=FSDD_N_CLASSES, strict=strict)


def spike_file_units(path: str | os.PathLike, default: int = 700) -> int:
    """The ``channels`` attribute of an SHD-layout file (``default`` when absent, as in SHD's)."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return int(fh.attrs.get("channels", default))
    except OSError:
        return default  # validate_shd_file names the problem

