"""Checks the Helm chart with Helm's own engine: lint, render, and assert on what it renders.

    python3 helm/tests/check_chart.py --kefu target/debug/kefu

Helm (its Go library, from helm-sdkpy) installs the chart into a stub of the Kubernetes API
(k8s_stub.py) that records every object; nothing waits for readiness. Each rendering gets its
own namespace, and every object of every rendering is validated against the Kubernetes
schemas of the oldest version Chart.yaml's kubeVersion admits, strictly (k8s_schemas.py). The rendered settings are also handed to the kefu binary, which must accept
them as it would in a pod.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checks  # noqa: E402
import helm_engine  # noqa: E402
from checks import check  # noqa: E402
import k8s_schemas  # noqa: E402
import pypi  # noqa: E402
import k8s_stub  # noqa: E402

ROOT = HERE.parent.parent
CHART = ROOT / "helm" / "kefu"
# The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion).
KUBE_VERSION = k8s_schemas.oldest_supported((CHART / "Chart.yaml").read_text())
# The binary's list of services (`kefu services --json`), read in main(): name -> (gRPC
# service, default port).
IMPLEMENTED: dict[str, tuple[str, int]] = {}


def read_catalog(kefu: Path) -> None:
    """Fills IMPLEMENTED from the binary and holds the chart's copy to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU")}
    done = subprocess.run([str(kefu), "services", "--json"], env=env, capture_output=True, text=True)
    check(done.returncode == 0, f"kefu services --json runs ({done.stderr.strip()})")
    listed = json.loads(done.stdout)
    copied = json.loads((CHART / "services.json").read_text())
    check(
        listed == copied,
        "helm/kefu/services.json is what `kefu services --json` prints (regenerate it: "
        "kefu services --json > helm/kefu/services.json)",
    )
    for service in listed["services"]:
        IMPLEMENTED[service["name"]] = (service["grpcService"], service["port"])



class Renderer:
    """Installs the chart into the stub, one namespace per rendering."""

    def __init__(self, library: Path, workdir: Path) -> None:
        self.library = library
        self.cluster, self.server = k8s_stub.start()
        self.kubeconfig = workdir / "kubeconfig"
        port = self.server.server_address[1]
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "stub", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                    "users": [{"name": "stub", "user": {"token": "stub"}}],
                    "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}],
                    "current-context": "stub",
                }
            )
        )
        self.count = 0

    def render(self, values: dict) -> tuple[list[dict], dict]:
        """The objects Helm created, and the release it reports; raises HelmError."""
        self.count += 1
        namespace = f"render-{self.count}"
        helm = helm_engine.Helm(self.library, self.kubeconfig, namespace)
        release = helm.install("kefu", CHART, values)
        objects = [
            o
            for o in self.cluster.created_in(namespace)
            if not o.get("metadata", {}).get("name", "").startswith("sh.helm.release.")
        ]
        bad = k8s_schemas.problems(objects, KUBE_VERSION)
        check(
            not bad,
            f"{namespace}: all {len(objects)} objects valid for Kubernetes {KUBE_VERSION}, "
            f"unknown fields refused ({bad[:5]})",
        )
        return objects, release

    def refused(self, values: dict) -> tuple[str, list[dict]]:
        """The error of an install that must fail, and what it created anyway."""
        self.count += 1
        namespace = f"render-{self.count}"
        helm = helm_engine.Helm(self.library, self.kubeconfig, namespace)
        try:
            helm.install("kefu", CHART, values)
        except helm_engine.HelmError as e:
            return str(e), self.cluster.created_in(namespace)
        return "", self.cluster.created_in(namespace)


def load_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def deep_merge(base: dict, over: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def find(objects: list[dict], kind: str, name: str) -> dict | None:
    return next(
        (o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name), None
    )


def component(o: dict) -> str:
    return (o.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component", "")


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def settings_accepted(kefu: Path, settings_json: str, env: dict[str, dict], what: str) -> None:
    """The kefu binary loads the rendered settings with the pod's environment (secret values
    replaced by well-formed stand-ins), as it would at start."""
    stand_in = {
        "KEFU__AUTH__HS256_SECRET": "a-stand-in-signing-key-of-enough-length",
        "KEFU__SECURITY__LOOKUP_KEY": base64.b64encode(b"l" * 32).decode(),
        "KEFU__REDIS__URL": "redis://redis:6379",
    }
    process_env = {"PATH": os.environ.get("PATH", "")}
    for name, entry in env.items():
        if "value" in entry:
            process_env[name] = entry["value"]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            if name in stand_in:
                process_env[name] = stand_in[name]
            elif name.startswith("KEFU__SECURITY__PII_KEYS__"):
                process_env[name] = base64.b64encode(b"p" * 32).decode()
            elif name.endswith("__DATABASE_URL"):
                process_env[name] = "postgres://kefu@db:5432/kefu"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(settings_json)
    process_env["KEFU_CONFIG"] = f.name
    done = subprocess.run([str(kefu), "config"], env=process_env, capture_output=True, text=True)
    os.unlink(f.name)
    check(done.returncode == 0, f"{what}: kefu accepts the rendered settings ({done.stderr.strip()})")
    check(
        "dev1" not in done.stdout.split("[security.pii_keys]")[-1].split("[")[0],
        f"{what}: the development key is out of the keyring",
    )


def check_service(objects: list[dict], name: str, values: dict, kefu: Path, what: str) -> None:
    grpc_service, _ = IMPLEMENTED[name]
    svc_values = values["services"][name]
    port = svc_values["port"]
    full = f"kefu-{name}"
    deployment = find(objects, "Deployment", full)
    check(deployment is not None, f"{what}: {name} has a Deployment")
    if deployment is None:
        return
    labels = deployment["metadata"]["labels"]
    for label in ["name", "instance", "component", "version", "managed-by", "part-of"]:
        check(f"app.kubernetes.io/{label}" in labels, f"{what}: {name} labelled app.kubernetes.io/{label}")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    check(container["args"] == ["serve", "--service", name], f"{what}: {name} runs kefu serve --service {name}")
    tls = values.get("tls", {}).get("secretName")
    # Under TLS, probes read a plaintext listener of health alone: Kubernetes' gRPC probes
    # cannot speak TLS.
    probe_port = values["tls"]["healthPort"] if tls else port
    expected_ports = [{"name": "grpc", "containerPort": port, "protocol": "TCP"}]
    if tls:
        expected_ports.append({"name": "health", "containerPort": probe_port, "protocol": "TCP"})
    check(
        container["ports"] == expected_ports,
        f"{what}: {name} exposes its gRPC port {port} named grpc",
    )
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
        grpc = container.get(probe, {}).get("grpc")
        check(grpc is not None and grpc.get("port") == probe_port, f"{what}: {name} has a native gRPC {probe}")
    check(
        container["readinessProbe"]["grpc"].get("service") == grpc_service,
        f"{what}: {name}'s readiness asks for {grpc_service}",
    )
    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    check(pod_security.get("runAsNonRoot") is True, f"{what}: {name} runs as non-root")
    check(security.get("readOnlyRootFilesystem") is True, f"{what}: {name} has a read-only root filesystem")
    check(security.get("allowPrivilegeEscalation") is False, f"{what}: {name} cannot escalate")
    check(security.get("capabilities", {}).get("drop") == ["ALL"], f"{what}: {name} drops all capabilities")
    check(pod.get("automountServiceAccountToken") is False, f"{what}: {name} mounts no API token")
    check(pod.get("serviceAccountName") == full, f"{what}: {name} runs as its own ServiceAccount")
    check(spec["strategy"]["type"] == "RollingUpdate", f"{what}: {name} rolls")
    shutdown = values["shutdown"]
    check(
        # After the drain, the event relays' last pass takes up to 5 s.
        pod["terminationGracePeriodSeconds"] * 1000
        > shutdown["shutdownDelayMs"] + shutdown["drainTimeoutMs"] + 5000,
        f"{what}: {name}'s grace period outlasts the drain and the relays' last pass",
    )
    liveness = container["livenessProbe"]
    check(
        liveness["periodSeconds"] * liveness["failureThreshold"] > pod["terminationGracePeriodSeconds"],
        f"{what}: {name}'s liveness never fails within a shutdown",
    )
    if svc_values["autoscaling"]["enabled"]:
        check("replicas" not in spec, f"{what}: {name}'s replicas are the autoscaler's")
        hpa = find(objects, "HorizontalPodAutoscaler", full)
        check(
            hpa is not None and hpa["spec"]["maxReplicas"] == svc_values["autoscaling"]["maxReplicas"],
            f"{what}: {name} has its HorizontalPodAutoscaler",
        )
    else:
        check(spec.get("replicas") == svc_values["replicas"], f"{what}: {name} has {svc_values['replicas']} replicas")
        check(find(objects, "HorizontalPodAutoscaler", full) is None, f"{what}: {name} has no autoscaler")

    env = env_of(container)
    for secret_var in ["KEFU__AUTH__HS256_SECRET", "KEFU__SECURITY__LOOKUP_KEY", f"KEFU__{name.upper().replace('-', '_')}__DATABASE_URL"]:
        check(
            "secretKeyRef" in env.get(secret_var, {}).get("valueFrom", {}),
            f"{what}: {name} reads {secret_var} from the Secret",
        )
    check(env.get("KEFU__SECURITY__PII_KEYS__DEV1", {}).get("value") == "", f"{what}: {name} retires dev1")
    for key_id in values["pii"]["keyIds"]:
        check(
            "secretKeyRef" in env.get(f"KEFU__SECURITY__PII_KEYS__{key_id.upper()}", {}).get("valueFrom", {}),
            f"{what}: {name} reads PII key {key_id} from the Secret",
        )
    if values["otel"].get("endpoint"):
        check(
            env.get("OTEL_EXPORTER_OTLP_ENDPOINT", {}).get("value") == values["otel"]["endpoint"],
            f"{what}: {name} exports traces to the collector",
        )

    config_map = find(objects, "ConfigMap", full)
    check(config_map is not None, f"{what}: {name} has its settings ConfigMap")
    if config_map is not None:
        raw = config_map["data"]["kefu.json"]
        settings = json.loads(raw)
        section = name.replace("-", "_")
        check(settings[section]["listen"] == f"0.0.0.0:{port}", f"{what}: {name} listens on all interfaces")
        annotations = spec["template"]["metadata"]["annotations"]
        check(
            annotations.get("checksum/config") == hashlib.sha256(raw.strip("\n").encode()).hexdigest()
            or annotations.get("checksum/config") == hashlib.sha256(raw.encode()).hexdigest(),
            f"{what}: {name}'s pods carry the checksum of their settings",
        )
        check(
            any(v.get("configMap", {}).get("name") == full for v in pod["volumes"]),
            f"{what}: {name} mounts its settings",
        )
        settings_accepted(kefu, raw, env, f"{what}: {name}")

    service = find(objects, "Service", full)
    check(
        service is not None
        and service["spec"]["ports"][0]["name"] == "grpc"
        and service["spec"]["ports"][0]["port"] == port,
        f"{what}: {name} has a Service with a port named grpc",
    )
    headless = find(objects, "Service", f"{full}-headless")
    check(
        headless is not None and headless["spec"].get("clusterIP") == "None",
        f"{what}: {name} has a headless Service for client-side balancing",
    )
    check(find(objects, "ServiceAccount", full) is not None, f"{what}: {name} has a ServiceAccount")
    pdb = find(objects, "PodDisruptionBudget", full)
    check(
        pdb is not None and pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"],
        f"{what}: {name} has a PodDisruptionBudget over its pods",
    )
    policy = find(objects, "NetworkPolicy", full)
    check(policy is not None, f"{what}: {name} has a NetworkPolicy")
    if policy is not None:
        rules = policy["spec"].get("ingress", [])
        check(policy["spec"]["policyTypes"] == ["Ingress"], f"{what}: {name}'s policy governs ingress")
        check(
            len(rules) == 1 and rules[0]["ports"] == [{"port": "grpc", "protocol": "TCP"}] and rules[0].get("from"),
            f"{what}: {name}'s policy admits named sources to the gRPC port only",
        )


def check_migrations(objects: list[dict], services: str, what: str) -> None:
    job = find(objects, "Job", "kefu-migrate")
    check(job is not None, f"{what}: the migration Job is rendered")
    if job is None:
        return
    annotations = job["metadata"].get("annotations", {})
    check(
        annotations.get("helm.sh/hook") == "pre-install,pre-upgrade",
        f"{what}: migrations are a pre-install,pre-upgrade hook",
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    check(
        container["args"] == ["migrate", "--service", services],
        f"{what}: the Job runs kefu migrate --service {services} (got {container['args']})",
    )
    check(
        container["securityContext"].get("readOnlyRootFilesystem") is True,
        f"{what}: the Job runs with a read-only root filesystem",
    )
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    check(
        all(
            "migrate" not in c.get("args", [])
            for d in deployments
            for c in d["spec"]["template"]["spec"]["containers"]
        ),
        f"{what}: no pod migrates at start",
    )


def exported_series() -> set[str]:
    """The Prometheus series the services' metrics become through the OpenTelemetry
    Collector's Prometheus exporter, read from where the instruments are made."""
    import re

    source = (ROOT / "services" / "platform" / "src" / "metrics.rs").read_text()
    series = set()
    # Histograms in seconds, made by the `seconds` helper.
    for name in re.findall(r'seconds\(\s*"([a-z_.]+)"', source):
        base = name.replace(".", "_") + "_seconds"
        series |= {base + "_bucket", base + "_sum", base + "_count"}
    for chunk in source.split(".build()"):
        found = re.search(
            r'(u64_counter|u64_gauge|f64_gauge|i64_up_down_counter|'
            r'i64_observable_up_down_counter)\(\s*"([a-z_.]+)"',
            chunk,
        )
        if not found:
            continue
        kind, name = found.groups()
        base = name.replace(".", "_")
        if 'with_unit("s")' in chunk:
            base += "_seconds"
        if kind == "u64_counter":
            series.add(base + "_total")
        else:
            series.add(base)
    return series


def referenced_series(expr: str) -> set[str]:
    """The series names of Kefu's an expression reads."""
    import re

    return set(re.findall(r"\b((?:rpc|db|kefu|messaging)_[a-z_]+)\b", expr)) - {
        # Labels, not series.
        "rpc_method", "rpc_service", "rpc_grpc_status_code", "db_collection_name",
        "db_client_connection_pool_name", "db_client_connection_state", "kefu_source",
        "kefu_hot_state_result", "kefu_deadline", "kefu_outcome", "kefu_reason",
        "messaging_consumer_group_name",
    }


def parses(expr: str) -> str:
    """Why PromQL `expr` does not parse (Grafana's variables stood in for); empty if it does."""
    import promql_parser  # noqa: PLC0415 (importable only after pypi.ensure())

    try:
        promql_parser.parse(expr.replace("$__rate_interval", "5m"))
    except Exception as e:  # noqa: BLE001 (the parser raises plain exceptions)
        return str(e)
    return ""


def check_monitoring(objects: list[dict], what: str) -> None:
    """The dashboard and the alert rules are PromQL that reads only series the services
    export."""
    known = exported_series()
    check(len(known) > 20, f"{what}: the metrics' series are read from metrics.rs ({len(known)})")
    dashboard = find(objects, "ConfigMap", "kefu-dashboard")
    check(dashboard is not None, f"{what}: the Grafana dashboard renders")
    if dashboard:
        check(
            dashboard["metadata"]["labels"].get("grafana_dashboard") == "1",
            f"{what}: the dashboard carries the sidecar's label",
        )
        board = json.loads(dashboard["data"]["kefu-dashboard.json"])
        exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
        check(len(exprs) >= 10, f"{what}: the dashboard has its panels ({len(exprs)} queries)")
        unknown = set().union(*(referenced_series(e) for e in exprs)) - known
        check(not unknown, f"{what}: the dashboard reads only exported series (unknown: {sorted(unknown)})")
        broken = [(e, parses(e)) for e in exprs if parses(e)]
        check(not broken, f"{what}: every dashboard query is PromQL ({broken})")
    alerts = find(objects, "ConfigMap", "kefu-alerts")
    check(alerts is not None, f"{what}: the alert rules render")
    if alerts:
        rules = yaml.safe_load(alerts["data"]["kefu-alerts.yaml"])["groups"][0]["rules"]
        names = {r["alert"] for r in rules}
        for needed in ["KefuConsumerStuck", "KefuEventRelayFailing", "KefuErrorRate", "KefuLatency", "KefuHotStateBreakerOpen"]:
            check(needed in names, f"{what}: an alert {needed}")
        for rule in rules:
            check(
                rule.get("labels", {}).get("severity") in ("page", "ticket")
                and rule.get("annotations", {}).get("summary")
                and rule.get("for"),
                f"{what}: {rule.get('alert')} has a severity, a summary and a duration",
            )
            unknown = referenced_series(rule["expr"]) - known
            check(not unknown, f"{what}: {rule['alert']} reads only exported series (unknown: {sorted(unknown)})")
            check(not parses(rule["expr"]), f"{what}: {rule['alert']} is PromQL ({parses(rule['expr'])})")
        check(parses("sum by (job (rate(x[5m]))") != "", "the PromQL check refuses a broken expression")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kefu", type=Path, required=True, help="the kefu binary")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "helm-sdkpy")
    args = parser.parse_args()
    read_catalog(args.kefu)
    library = helm_engine.ensure_library(args.cache)
    k8s_schemas.ensure(args.cache.parent)
    pypi.ensure(args.cache.parent, "promql-parser", "0.12.0", "promql_parser")
    defaults = load_values(CHART / "values.yaml")
    production = deep_merge(defaults, load_values(HERE / "values-production.yaml"))

    with tempfile.TemporaryDirectory() as workdir:
        renderer = Renderer(library, Path(workdir))
        print(f"helm engine: {helm_engine.Helm(library, renderer.kubeconfig, 'default').version()}")

        print("lint")
        lint = helm_engine.Helm(library, renderer.kubeconfig, "default").lint(CHART)
        severities = [m["Severity"] for m in lint.get("Messages") or []]
        # 1 info (e.g. "icon is recommended"), 2 warning, 3 error.
        check(lint.get("TotalChartsLinted") == 1, "lint: the chart was linted")
        check(all(s < 2 for s in severities), f"lint: no warnings or errors (severities {severities})")

        print("default values")
        objects, release = renderer.render({})
        misspelt = copy.deepcopy(find(objects, "Deployment", "kefu-survey"))
        misspelt["spec"]["replcas"] = misspelt["spec"].pop("replicas", 1)
        check(
            any("replcas" in p for p in k8s_schemas.problems([misspelt], KUBE_VERSION)),
            "the schema check refuses a misspelt field",
        )
        for name in IMPLEMENTED:
            check_service(objects, name, defaults, args.kefu, "defaults")
        check_migrations(objects, "all", "defaults")
        check(find(objects, "Secret", "kefu-secrets") is None, "defaults: the chart makes no Secret of its own")
        check(
            sorted({component(o) for o in objects if component(o) in IMPLEMENTED}) == sorted(IMPLEMENTED),
            "defaults: every service of the build renders, and nothing else does",
        )
        notes = release.get("info", {}).get("notes", "")
        check("kefu token --role" in notes and "port-forward" in notes, "defaults: NOTES tell how to reach a service and get a token")

        check_monitoring(objects, "defaults")
        objects, _ = renderer.render(
            {"monitoring": {"dashboard": {"enabled": False}, "alerts": {"errorRatio": 0.2, "consumerStuckFor": "30m"}}}
        )
        check(find(objects, "ConfigMap", "kefu-dashboard") is None, "monitoring: a disabled dashboard renders nothing")
        tuned = yaml.safe_load(find(objects, "ConfigMap", "kefu-alerts")["data"]["kefu-alerts.yaml"])
        tuned_exprs = {r["alert"]: r["expr"] for r in tuned["groups"][0]["rules"]}
        check("> 0.2" in tuned_exprs["KefuErrorRate"], "monitoring: the error ratio is the value given")
        check("[30m]" in tuned_exprs["KefuConsumerStuck"], "monitoring: how long a consumer may stand still is the value given")

        print("production-like values")
        objects, _ = renderer.render(load_values(HERE / "values-production.yaml"))
        for name in IMPLEMENTED:
            check_service(objects, name, production, args.kefu, "production")
        check_migrations(objects, "all", "production")
        images = {c["image"] for o in objects if o["kind"] in ("Deployment", "Job") for c in o["spec"]["template"]["spec"]["containers"]}
        check(
            images == {f"{production['image']['repository']}@{production['image']['digest']}"},
            f"production: every pod runs the pinned digest ({images})",
        )
        env = env_of(find(objects, "Deployment", "kefu-order-tracking")["spec"]["template"]["spec"]["containers"][0])
        check(env.get("KEFU__SECURITY__PII_KEYS__K2024", {}).get("value") == "", "production: the retired key is out")
        check(
            env.get("KEFU__SECURITY__PII_KEYS__K2025A", {}).get("valueFrom", {}).get("secretKeyRef", {}) == {"name": "kefu-production", "key": "pii-k2025a"},
            "production: keys come from the named Secret under its entry names",
        )
        check(
            env.get("KEFU__ORDER_TRACKING__DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}) == {"name": "orders-pg-app", "key": "uri"},
            "production: order-tracking's database URL comes from its operator's Secret",
        )
        job = find(objects, "Job", "kefu-migrate")
        job_env = env_of(job["spec"]["template"]["spec"]["containers"][0])
        check(
            job_env.get("KEFU__ORDER_TRACKING__DATABASE_URL") == env.get("KEFU__ORDER_TRACKING__DATABASE_URL"),
            "production: the migration Job reads the same database URLs as the pods",
        )
        pod = find(objects, "Deployment", "kefu-order-tracking")["spec"]["template"]["spec"]
        jwks_volume = next((v for v in pod["volumes"] if v["name"] == "jwks"), {})
        check(jwks_volume.get("configMap", {}).get("name") == "sso-jwks", "production: the provider's JWKS ConfigMap is mounted")
        mount = next((m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "jwks"), {})
        check(mount.get("mountPath") == "/etc/kefu-jwks" and "subPath" not in mount, "production: the JWKS is mounted as a directory, so its updates show")
        settings = json.loads(find(objects, "ConfigMap", "kefu-order-tracking")["data"]["kefu.json"])
        check(settings["auth"].get("jwks_file") == "/etc/kefu-jwks/jwks.json", "production: the settings read the mounted JWKS")
        container = pod["containers"][0]
        check(
            all(container[p]["grpc"]["port"] == 8081 for p in ("startupProbe", "readinessProbe", "livenessProbe")),
            "production: under TLS the probes read the plaintext health listener",
        )
        check(settings["server"].get("health_listen") == "0.0.0.0:8081", "production: the health listener is on")
        check(
            settings["tls"] == {"cert_file": "/etc/kefu-tls/tls.crt", "key_file": "/etc/kefu-tls/tls.key", "ca_file": "/etc/kefu-tls/ca.crt", "client_ca_file": "/etc/kefu-tls/ca.crt"},
            f"production: mutual TLS from the mounted Secret ({settings['tls']})",
        )
        check(
            settings["customer_registry"]["endpoint"].startswith("https://kefu-customer-registry:"),
            "production: the services call one another over https",
        )
        redis_ca = next((v for v in pod["volumes"] if v["name"] == "redis-tls"), {})
        check(redis_ca.get("secret", {}).get("secretName") == "redis-ca", "production: the CA of Redis's TLS certificate is mounted from its Secret")
        check(settings["redis"].get("tls_ca_file") == "/etc/kefu-redis-tls/ca.crt", "production: the settings trust the mounted CA for rediss://")
        check(
            (settings["redis"].get("mode"), settings["redis"].get("nodes"), settings["redis"].get("sentinel_master"), settings["redis"].get("replica_acks"))
            == ("sentinel", ["redis-sentinel-1:26379", "redis-sentinel-2:26379"], "kefu", 1),
            f"production: Redis behind sentinels, writes acknowledged by a replica ({settings['redis']})",
        )
        policy = find(objects, "NetworkPolicy", "kefu-customer-registry")
        sources = policy["spec"]["ingress"][0]["from"]
        check(len(sources) == 3, "production: namespace, labelled pods and labelled namespaces may call")

        print("services disabled")
        # complaint-desk does not start without order-tracking, so both go; survey reads both.
        # staff-kpi stays: it runs without the streams it reads, those KPIs without data.
        objects, _ = renderer.render(
            {
                "services": {
                    "order-tracking": {"enabled": False},
                    "complaint-desk": {"enabled": False},
                    "survey": {"enabled": False},
                }
            }
        )
        for gone in ["order-tracking", "complaint-desk", "survey"]:
            check(not [o for o in objects if component(o) == gone], f"disabled: {gone} renders nothing")
        check_service(objects, "customer-registry", defaults, args.kefu, "disabled")
        check_service(objects, "staff-kpi", defaults, args.kefu, "disabled")
        check_migrations(objects, "customer-registry,staff-kpi", "disabled")
        settings = json.loads(find(objects, "ConfigMap", "kefu-customer-registry")["data"]["kefu.json"])
        check("order_tracking" not in settings, "disabled: nobody is pointed at the disabled service")

        print("chart-made Secret (development)")
        development = {
            "existingSecret": "",
            "secretValues": {
                "authSigningKey": "a-development-signing-key-of-enough-length",
                "lookupKey": base64.b64encode(b"l" * 32).decode(),
                "piiKeys": {"k1": base64.b64encode(b"p" * 32).decode()},
                "redisUrl": "redis://redis:6379",
                "databaseUrls": {
                    name: f"postgres://kefu@db:5432/{name.replace('-', '_')}" for name in IMPLEMENTED
                },
            },
        }
        objects, _ = renderer.render(development)
        secret = find(objects, "Secret", "kefu-secrets")
        check(secret is not None, "development: the chart makes the Secret")
        if secret is not None:
            check(
                secret["metadata"].get("annotations", {}).get("helm.sh/hook") == "pre-install,pre-upgrade",
                "development: the Secret exists before the migration hook",
            )
            data = secret.get("stringData") or {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
            check(
                set(data)
                == {"auth-hs256-secret", "pii-lookup-key", "pii-key-k1", "redis-url"}
                | {f"{name}-database-url" for name in IMPLEMENTED},
                f"development: the Secret holds every entry the pods read ({sorted(data)})",
            )
        deployment = find(objects, "Deployment", "kefu-customer-registry")
        check(
            "checksum/secret" in deployment["spec"]["template"]["metadata"]["annotations"],
            "development: a secret change rolls the pods",
        )

        print("skaffold's local profile: helm/dev")
        deps = helm_engine.Helm(library, renderer.kubeconfig, "default").lint(ROOT / "helm/dev/deps")
        check(
            all(m["Severity"] < 3 for m in deps.get("Messages") or []),
            "dev deps: the PostgreSQL and Redis chart lints without errors",
        )
        objects, _ = renderer.render(load_values(ROOT / "helm/dev/kefu-local.yaml"))
        secret = find(objects, "Secret", "kefu-secrets")
        check(secret is not None, "local: the chart makes the development Secret")
        check(
            find(objects, "Deployment", "kefu-order-tracking")["spec"]["replicas"] == 1,
            "local: one replica each",
        )

        print("wrong values are refused, and nothing is created")
        refusals = [
            ({"services": {"billing": {"enabled": True}}}, "billing"),
            ({"services": {"customer-registry": {"replicas": 0}}}, "replicas"),
            ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
            ({"replica": 3}, "replica"),
            ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
            ({"secretValues": {"piiKeys": {"k1": "short"}}}, "piiKeys"),
            ({"pii": {"activeKeyId": "k9"}}, "pii.activeKeyId"),
            ({"pii": {"keyIds": ["dev1"], "activeKeyId": "dev1"}}, "dev1"),
            ({"existingSecret": ""}, "secretValues.authSigningKey"),
            ({"shutdown": {"drainTimeoutMs": "soon"}}, "drainTimeoutMs"),
        ]
        for values, phrase in refusals:
            error, created = renderer.refused(values)
            said = " | ".join(line.strip() for line in error.splitlines()[1:] if line.strip()) or error
            print(f"  {json.dumps(values)}: {said[:200] if error else 'ACCEPTED'}")
            check(bool(error) and phrase in error, f"refused {json.dumps(values)}: says {phrase!r} (got {error[:300]!r})")
            check(not created, f"refused {json.dumps(values)}: nothing created")

    return checks.summary("chart checks")


if __name__ == "__main__":
    sys.exit(main())
