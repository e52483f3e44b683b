"""Checks the Dockerfile and skaffold.yaml for what can be checked without a Docker engine.

    python3 helm/tests/check_image.py --kefu target/debug/kefu

- The Dockerfile caches dependencies in their own layer, builds `kefu` with --locked in
  release mode, and ends on a shell-less base as a numeric non-root user.
- The kefu binary (this checkout's, built from the same sources) runs as that user from a
  directory it cannot write to, migrates PostgreSQL and serves, as in a pod with a
  read-only root filesystem.
- skaffold.yaml names the Dockerfile, the chart and the values files that exist, hands the
  built image to the chart, and forwards each service's port as the chart sets it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402
from checks import check  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent


def stages(dockerfile: str) -> list[list[str]]:
    """Instructions of each stage, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current = f"{current} {line[:-1].strip()}" if line.endswith("\\") else f"{current} {line}"
        if not line.endswith("\\"):
            lines.append(current.strip())
            current = ""
    result: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def check_dockerfile() -> tuple[int, int]:
    print("Dockerfile")
    text = (ROOT / "Dockerfile").read_text()
    all_stages = stages(text)
    check(len(all_stages) >= 3, "multi-stage")
    builder = next((s for s in all_stages if any("cargo build" in i for i in s)), [])
    cook = next((i for i, line in enumerate(builder) if "cargo chef cook" in line), None)
    copy_all = next((i for i, line in enumerate(builder) if re.match(r"COPY \. ", line)), None)
    build = next((i for i, line in enumerate(builder) if "cargo build" in line), None)
    check(
        cook is not None and copy_all is not None and build is not None and cook < copy_all < build,
        "dependencies are cooked before the sources are copied (their own cached layer)",
    )
    build_line = builder[build] if build is not None else ""
    for flag in ["--release", "--locked", "--bin kefu"]:
        check(flag in build_line, f"the build uses {flag}")
    check("--locked" in (builder[cook] if cook is not None else ""), "dependencies are cooked --locked")
    final = all_stages[-1]
    check(final[0].startswith("FROM gcr.io/distroless/"), "the runtime image is distroless (no shell)")
    check(not any(i.upper().startswith("RUN ") for i in final), "the runtime stage runs nothing (no shell needed)")
    user = next((i.split()[1] for i in final if i.upper().startswith("USER ")), "")
    match = re.fullmatch(r"(\d+):(\d+)", user)
    check(match is not None and int(match[1]) != 0, f"the image's user is numeric and not root ({user!r})")
    entrypoint = next((i for i in final if i.upper().startswith("ENTRYPOINT")), "")
    check('"/usr/local/bin/kefu"' in entrypoint, "the entrypoint is the kefu binary, exec form")
    check(not any(i.upper().startswith("HEALTHCHECK") for i in final), "no shell health check: probes use gRPC")
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in ["/target", "/.git", "/node_modules"]:
        check(path in ignored, f".dockerignore leaves out {path}")
    if match is None:
        return 65532, 65532
    return int(match[1]), int(match[2])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_runs_as(kefu: Path, uid: int, gid: int) -> None:
    print(f"kefu as uid {uid} from a read-only directory")
    if os.geteuid() != 0:
        check(False, "switching to the image's user needs root (CI runs as root)")
        return
    database = f"kefu_image_{uuid.uuid4().hex[:12]}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc"]
    subprocess.run([*psql, f"CREATE DATABASE {database}"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        binary = tmp_path / "kefu"
        shutil.copy(kefu, binary)
        binary.chmod(0o755)
        readonly = tmp_path / "root"
        readonly.mkdir()
        readonly.chmod(0o555)
        tmp_path.chmod(0o755)
        port = free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": "/nonexistent",
            "KEFU__CUSTOMER_REGISTRY__DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            "KEFU__CUSTOMER_REGISTRY__LISTEN": f"127.0.0.1:{port}",
            "KEFU__SERVER__SHUTDOWN_DELAY_MS": "200",
        }
        as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        try:
            migrated = subprocess.run(
                [*as_user, str(binary), "migrate", "--service", "customer-registry"],
                cwd=readonly, env=env, capture_output=True, text=True, timeout=120,
            )
            check(migrated.returncode == 0, f"kefu migrate runs as the image's user ({migrated.stderr.strip()[:300]})")
            server = subprocess.Popen(
                [*as_user, str(binary), "serve", "--service", "customer-registry"],
                cwd=readonly, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            serving = ""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and server.stdout is not None:
                line = server.stdout.readline()
                if not line:
                    break
                if line.startswith("kefu: serving"):
                    serving = line.strip()
                    break
            check(bool(serving), f"kefu serves as the image's user ({serving or server.stderr.read()[:300] if server.stderr else ''})")
            if serving:
                status = Path(f"/proc/{server.pid}/status").read_text()
                uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
                check(all(int(u) == uid for u in uids), f"every uid of the server is {uid} ({uids})")
                # The client runs as root: what matters is that the server answers.
                plans = subprocess.run(
                    [str(kefu), "customers", "plans", "--endpoint", f"http://127.0.0.1:{port}"],
                    cwd=tmp, capture_output=True, text=True, timeout=30,
                    env={"PATH": "/usr/bin:/bin", "HOME": tmp},
                )
                check(plans.returncode == 0 and "frequent" in plans.stdout, f"it answers calls ({plans.stderr.strip()[:200]})")
                server.send_signal(signal.SIGTERM)
                try:
                    code = server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    code = -1
                check(code == 0, f"it stops cleanly on SIGTERM (exit {code})")
            else:
                server.kill()
                server.wait()
            check(sorted(os.listdir(readonly)) == [], "it wrote nothing to its directory")
        finally:
            subprocess.run([*psql, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=False)


def check_skaffold() -> None:
    print("skaffold.yaml")
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    check(config.get("apiVersion", "").startswith("skaffold/v4"), "a skaffold v2 config (schema v4)")
    artifacts = config["build"]["artifacts"]
    check(len(artifacts) == 1, "one artifact: the image")
    artifact = artifacts[0]
    dockerfile = ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]
    check(dockerfile.is_file(), f"the artifact builds from {dockerfile.relative_to(ROOT)}, which exists")
    image = artifact["image"]
    values = yaml.safe_load((ROOT / "helm/kefu/values.yaml").read_text())

    def releases(manifests: dict) -> list[dict]:
        return manifests.get("helm", {}).get("releases", [])

    all_releases = releases(config["manifests"]) + [
        r for p in config.get("profiles", []) for r in releases(p.get("manifests", {}))
    ]
    for release in all_releases:
        chart = ROOT / release["chartPath"]
        check((chart / "Chart.yaml").is_file(), f"release {release['name']} names chart {release['chartPath']}, which exists")
        for values_file in release.get("valuesFiles", []):
            check((ROOT / values_file).is_file(), f"release {release['name']}'s values file {values_file} exists")
        if release["chartPath"] == "helm/kefu":
            templates = release.get("setValueTemplates", {})
            check(
                templates.get("image.repository") == f"{{{{.IMAGE_REPO_{image}}}}}"
                and templates.get("image.tag") == f"{{{{.IMAGE_TAG_{image}}}}}",
                f"release {release['name']} runs the image skaffold built",
            )
    check(any(r["chartPath"] == "helm/kefu" for r in releases(config["manifests"])), "the default deploys helm/kefu")
    forwards = {(f["resourceName"], f["port"]) for f in config.get("portForward", [])}
    for name, service in values["services"].items():
        if service.get("enabled"):
            check(
                (f"kefu-{name}", service["port"]) in forwards,
                f"port-forward for {name} on {service['port']}",
            )
    local = next((p for p in config.get("profiles", []) if p["name"] == "local"), None)
    check(local is not None and local["build"]["local"]["push"] is False, "a local-cluster profile that does not push")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kefu", type=Path, required=True, help="the kefu binary")
    args = parser.parse_args()
    uid, gid = check_dockerfile()
    check_runs_as(args.kefu.resolve(), uid, gid)
    check_skaffold()
    return checks.summary("image checks")


if __name__ == "__main__":
    sys.exit(main())
