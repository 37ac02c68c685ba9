"""The package mapping in pyproject.toml matches the folders on disk."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# the folders of the layout (docs/DEVELOPING.md, "Layout"): every package below them is listed
TOP = ("src/fluctinit", "theory", "sim", "datasets", "validation", "training", "figures", "interop")


def _config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_package_dir_matches_folders():
    cfg = _config()
    packages, mapping = cfg["packages"], cfg["package-dir"]
    assert set(packages) == set(mapping)
    for pkg, folder in mapping.items():
        assert (ROOT / folder / "__init__.py").is_file(), (pkg, folder)
    folder_of = {str((ROOT / folder).resolve()): pkg for pkg, folder in mapping.items()}
    for top in TOP:
        for init in (ROOT / top).rglob("__init__.py"):
            assert str(init.parent.resolve()) in folder_of, (
                f"{init.parent.relative_to(ROOT)} is a package folder missing from pyproject.toml"
            )


def test_mapped_names_follow_the_folders():
    """A subpackage's import name is its parent's name plus its folder name."""
    mapping = _config()["package-dir"]
    for pkg, folder in mapping.items():
        parent = pkg.rpartition(".")[0]
        if parent and parent in mapping and Path(folder).parent == Path(mapping[parent]):
            assert Path(folder).name == pkg.rpartition(".")[2], (pkg, folder)


def test_imports_resolve_to_the_mapped_folders():
    import importlib

    for pkg, folder in _config()["package-dir"].items():
        module = importlib.import_module(pkg)
        assert Path(module.__file__).parent.resolve() == (ROOT / folder).resolve(), pkg
