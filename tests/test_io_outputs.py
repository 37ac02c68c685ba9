"""Output paths checked before work starts, the per-folder lock, stale temporary files."""

import os
import subprocess
import sys

import pytest

from fluctinit._io import FolderLock, check_output_path, remove_stale_temps
from fluctinit.errors import ParameterError


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_good_paths_pass_and_create_nothing(tmp_path, kind):
    target = tmp_path / "a" / "b" / ("x.json" if kind == "file" else "runs")
    assert check_output_path("out", target, kind=kind) == target
    assert not (tmp_path / "a").exists()


def test_bad_paths_name_the_option(tmp_path):
    (tmp_path / "f").write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    cases = [("", "file", "empty"), ("", "dir", "empty"), (tmp_path, "file", "a folder"),
             (tmp_path / "f", "dir", "an existing file"), (tmp_path / "f" / "x.json", "file", "is a file"),
             ("/", "dir", "the file-system root"), ("/", "file", "the file-system root"),
             ("/proc/x.csv", "file", "is not writable")]  # procfs: even root cannot create files there
    if os.geteuid() != 0:  # root may write anywhere
        cases.append((ro / "x.json", "file", "not writable"))
    for path, kind, why in cases:
        with pytest.raises(ParameterError, match=f"^`--out` must be a writable .*{why}") as err:
            check_output_path("--out", path, kind=kind)
        assert err.value.names == ("--out",)


def test_second_holder_of_a_folder_is_refused(tmp_path):
    code = ("import sys, time; from fluctinit._io import FolderLock\n"
            "with FolderLock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ParameterError, match=rf"`out` '{tmp_path}' is in use by process {holder.pid}"):
            with FolderLock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with FolderLock(tmp_path):  # released with the process that held it, even killed
        pass


def test_stale_temporary_files_are_removed(tmp_path):
    (tmp_path / ".tmp-results.json.abc.tmp").write_text("half")
    (tmp_path / "results.json").write_text("{}")
    removed = remove_stale_temps(tmp_path)
    assert [p.name for p in removed] == [".tmp-results.json.abc.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
