"""The project's Python packages, named once: pyproject.toml's `[tool.importlinter]`
`root_packages`. Every guard test reads them from here, and tests/test_packages.py holds each
other list of them (setuptools', the layers contract's, the Dockerfile's copies) to this one.
A new package is added to `root_packages`; those tests then say what else names it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES: tuple[str, ...] = tuple(PYPROJECT["tool"]["importlinter"]["root_packages"])
