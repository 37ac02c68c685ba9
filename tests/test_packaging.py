"""The package mapping in pyproject.toml matches the folders on disk."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_package_dir_matches_folders():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages, mapping = cfg["packages"], cfg["package-dir"]
    assert set(packages) == set(mapping)
    for pkg, folder in mapping.items():
        assert (ROOT / folder / "__init__.py").is_file(), (pkg, folder)
    # every folder with python modules under the mapped roots is a listed package
    for folder in {"theory", "sim", "validation", "figures"}:
        for sub in (ROOT / folder).rglob("__init__.py"):
            rel = sub.parent.relative_to(ROOT)
            name = "fluctinit." + ".".join(rel.parts)
            assert name in packages, f"{rel} is a package folder missing from pyproject.toml"


def test_imports_resolve_to_the_mapped_folders():
    import fluctinit.sim
    import fluctinit.theory
    import fluctinit.validation

    assert Path(fluctinit.theory.__file__).parent.name == "theory"
    assert Path(fluctinit.sim.__file__).parent.name == "sim"
    assert Path(fluctinit.validation.__file__).parent.name == "validation"
