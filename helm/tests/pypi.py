"""Python packages the checks need, installed once from PyPI into the cache and imported
from there, so the checks run on a bare Python 3 without touching the system's packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def ensure(cache: Path, package: str, version: str, module: str) -> None:
    """Makes `module` importable from `package==version` under `cache`."""
    target = cache / f"{package}-{version}"
    if not (target / module).exists():
        partial = target.with_suffix(".part")
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-compile", "--target", str(partial), f"{package}=={version}",
            ],
            check=True,
        )
        partial.rename(target)
    sys.path.insert(0, str(target))
