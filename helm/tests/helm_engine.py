"""Helm's own Go library, driven through ctypes: the engine that lints and renders the chart.

The library comes from the PyPI package helm-sdkpy (a Go shim over Helm v4), downloaded once
into a cache directory. Its wheel asks for Python 3.12, but the shared library itself needs
only a C ABI, so it is loaded here from whatever Python runs the checks.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import zipfile
from pathlib import Path

VERSION = "0.1.32"
LIBRARY = "helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so"


class HelmError(Exception):
    pass


def ensure_library(cache: Path) -> Path:
    """The shared library, downloaded from PyPI into `cache` the first time."""
    target = cache / f"libhelm_sdkpy-{VERSION}.so"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / f"helm_sdkpy-{VERSION}-py3-none-any.whl"
    if not wheel.exists():
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--python-version", "3.12",
                "--platform", "manylinux_2_17_x86_64",
                f"helm-sdkpy=={VERSION}", "-d", str(cache),
            ],
            check=True,
        )
    with zipfile.ZipFile(wheel) as z, z.open(LIBRARY) as src:
        partial = target.with_suffix(".part")
        partial.write_bytes(src.read())
        partial.rename(target)
    return target


class Helm:
    """One Helm configuration (namespace and kubeconfig) over the library."""

    def __init__(self, library: Path, kubeconfig: Path, namespace: str) -> None:
        lib = ctypes.CDLL(str(library))
        lib.helm_sdkpy_last_error.restype = ctypes.c_char_p
        lib.helm_sdkpy_version_string.restype = ctypes.c_char_p
        self._lib = lib
        self._handle = ctypes.c_ulonglong()
        self._check(
            lib.helm_sdkpy_config_create(
                namespace.encode(), str(kubeconfig).encode(), b"", b"{}",
                ctypes.byref(self._handle),
            )
        )

    def version(self) -> str:
        return self._lib.helm_sdkpy_version_string().decode()

    def _check(self, rc: int) -> None:
        if rc != 0:
            message = self._lib.helm_sdkpy_last_error()
            raise HelmError(message.decode() if message else f"helm failed ({rc})")

    def _result(self, out: ctypes.c_char_p) -> dict:
        text = out.value.decode() if out.value else "{}"
        return json.loads(text or "{}")

    def lint(self, chart: Path) -> dict:
        out = ctypes.c_char_p()
        self._check(self._lib.helm_sdkpy_lint(self._handle, str(chart).encode(), ctypes.byref(out)))
        return self._result(out)

    def install(self, release: str, chart: Path, values: dict, timeout_s: int = 60) -> dict:
        """Installs without waiting for readiness: renders with Helm's engine, sends it all."""
        options = {
            "create_namespace": False,
            "wait": False,
            "timeout_seconds": timeout_s,
            "wait_for_jobs": False,
            "server_side_apply": "false",
            "force_conflicts": False,
            "disable_openapi_validation": True,
            "skip_schema_validation": False,
            "rollback_on_failure": False,
            "take_ownership": False,
        }
        out = ctypes.c_char_p()
        self._check(
            self._lib.helm_sdkpy_install(
                self._handle, release.encode(), str(chart).encode(),
                json.dumps(values).encode(), b"", json.dumps(options).encode(),
                ctypes.byref(out),
            )
        )
        return self._result(out)
