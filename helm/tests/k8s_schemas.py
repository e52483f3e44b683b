"""Rendered objects against Kubernetes' own OpenAPI schemas, strictly: a misspelt or unknown
field fails here rather than in a real cluster (the stub API accepts anything).

The schemas come from the PyPI package kubernetes-validate, installed once with its
dependencies into a cache directory. Objects are checked against the oldest Kubernetes
version the chart's kubeVersion admits, so a field newer than that version fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pypi

VERSION = "1.37.0"


def ensure(cache: Path) -> None:
    """Makes kubernetes_validate importable, installing it into `cache` the first time."""
    pypi.ensure(cache, "kubernetes-validate", VERSION, "kubernetes_validate")


def oldest_supported(chart_yaml: str) -> str:
    """The lowest version a `kubeVersion: ">=1.27.0-0"` constraint admits: "1.27.0"."""
    found = re.search(r'^kubeVersion:\s*"?>=\s*v?(\d+\.\d+(?:\.\d+)?)', chart_yaml, re.M)
    if not found:
        raise ValueError("Chart.yaml has no kubeVersion of the form >=X.Y")
    return found.group(1)


def problems(objects: list[dict], kube_version: str) -> list[str]:
    """What fails validation, one line per object; empty when every object is valid."""
    import kubernetes_validate  # noqa: PLC0415 (importable only after ensure())

    found = []
    for o in objects:
        name = f"{o.get('kind')} {o.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(o, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.absolute_path)
            found.append(f"{name}: {path or '(top)'}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{name}: no schema of {o.get('apiVersion')} in Kubernetes {kube_version}")
    return found
