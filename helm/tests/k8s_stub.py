"""A stub of the Kubernetes API on loopback, enough for Helm's own engine to install a chart.

It answers discovery (/version, /api, /apis and each group's resources), keeps every object
POSTed (and PUT or PATCHed), answers GETs of what it keeps and 404 for the rest, and reports
Jobs as complete so Helm's hooks finish. Nothing runs: it is a recorder, so a check can see
exactly what Helm rendered and sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# group/version -> [(plural, kind, namespaced)]
RESOURCES = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("secrets", "Secret", True),
        ("configmaps", "ConfigMap", True),
        ("services", "Service", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("pods", "Pod", True),
        ("events", "Event", True),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "batch/v1": [("jobs", "Job", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
}

PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


class Cluster:
    """What the stub was sent: every object by (group/version, plural, namespace, name)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[tuple[str, str, str, str], dict] = {}
        # Every object ever created, in order, even those deleted since (hooks).
        self.created: list[dict] = []
        self.requests: list[tuple[str, str]] = []

    def created_in(self, namespace: str) -> list[dict]:
        with self.lock:
            return [
                o for o in self.created if o.get("metadata", {}).get("namespace") == namespace
            ]


def _resource_list(gv: str) -> dict:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }
            for plural, kind, namespaced in RESOURCES[gv]
        ],
    }


def _groups() -> dict:
    groups = {}
    for gv in RESOURCES:
        if "/" not in gv:
            continue
        group, version = gv.split("/")
        groups.setdefault(group, []).append(version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
            }
            for g, vs in groups.items()
        ],
    }


def _openapi_index() -> dict:
    return {
        "paths": {
            (f"api/{gv}" if "/" not in gv else f"apis/{gv}"): {
                "serverRelativeURL": f"/openapi/v3/{'api' if '/' not in gv else 'apis'}/{gv}"
            }
            for gv in RESOURCES
        }
    }


def _openapi_schemas(gv: str) -> dict:
    """The group's OpenAPI, saying each kind's PATCH takes `fieldValidation`: a client then
    leaves field validation to the server instead of checking against the full schemas a
    real API server serves (which this stub does not have; the checks judge the objects)."""
    group, _, version = gv.rpartition("/")
    prefix = f"/apis/{gv}" if group else f"/api/{gv}"
    return {
        "openapi": "3.0.0",
        "info": {"title": "kefu stub", "version": version},
        "paths": {
            f"{prefix}/namespaces/{{namespace}}/{plural}/{{name}}": {
                "patch": {
                    "x-kubernetes-group-version-kind": {
                        "group": group,
                        "version": version,
                        "kind": kind,
                    },
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "OK"}},
                }
            }
            for plural, kind, _ in RESOURCES[gv]
        },
        "components": {
            "schemas": {
                f"stub.{group or 'core'}.{version}.{kind}": {
                    "type": "object",
                    "x-kubernetes-group-version-kind": [
                        {"group": group, "version": version, "kind": kind}
                    ],
                }
                for _, kind, _ in RESOURCES[gv]
            }
        },
    }


def _finished(obj: dict) -> dict:
    """Jobs answer as complete, so Helm's hook wait ends."""
    if obj.get("kind") == "Job":
        obj = dict(obj)
        obj["status"] = {
            "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True"}],
        }
    return obj


def handler_for(cluster: Cluster):
    class Handler(BaseHTTPRequestHandler):
        # Watches stream chunked responses, which HTTP/1.0 does not have.
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _not_found(self, name: str = "") -> None:
            self._send(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "message": f"{name} not found",
                    "code": 404,
                },
            )

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if raw.startswith(PROTOBUF_MAGIC):
                # Typed clients (Helm's release storage) send core objects as protobuf.
                return _secret_from_protobuf(raw)
            return json.loads(raw or b"{}")

        def _route(self):
            url = urlparse(self.path)
            m = PATH.match(url.path)
            if not m:
                return url, None
            gv = m["core"] or f"{m['group']}/{m['version']}"
            return url, (gv, m["plural"], m["ns"] or "", m["name"], m["sub"])

        def do_GET(self) -> None:  # noqa: N802
            cluster.requests.append(("GET", self.path))
            url, route = self._route()
            if url.path == "/version":
                return self._send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
            if url.path == "/openapi/v3":
                return self._send(200, _openapi_index())
            if url.path.startswith("/openapi/v3/"):
                gv = url.path[len("/openapi/v3/") :].removeprefix("api/").removeprefix("apis/")
                if gv in RESOURCES:
                    return self._send(200, _openapi_schemas(gv))
                return self._not_found(url.path)
            if url.path == "/api":
                return self._send(200, {"kind": "APIVersions", "versions": ["v1"]})
            if url.path == "/apis":
                return self._send(200, _groups())
            if url.path == "/api/v1":
                return self._send(200, _resource_list("v1"))
            parts = url.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "apis" and f"{parts[1]}/{parts[2]}" in RESOURCES:
                return self._send(200, _resource_list(f"{parts[1]}/{parts[2]}"))
            if route is None:
                return self._not_found(url.path)
            gv, plural, ns, name, _sub = route
            if name:
                with cluster.lock:
                    obj = cluster.objects.get((gv, plural, ns, name))
                return self._send(200, _finished(obj)) if obj else self._not_found(name)
            query = parse_qs(url.query)
            with cluster.lock:
                items = [
                    _finished(o)
                    for (g, p, n, _), o in cluster.objects.items()
                    if g == gv and p == plural and (not ns or n == ns)
                ]
            selector = (query.get("labelSelector") or [""])[0]
            for term in filter(None, selector.split(",")):
                if "=" in term:
                    key, value = term.split("=", 1)
                    items = [
                        o
                        for o in items
                        if (o.get("metadata", {}).get("labels") or {}).get(key.rstrip("=")) == value
                    ]
            kind = next((k for p, k, _ in RESOURCES.get(gv, []) if p == plural), "")
            if query.get("watch") in (["true"], ["1"]):
                return self._watch(gv, kind, items, query)
            return self._send(
                200,
                {
                    "kind": f"{kind}List",
                    "apiVersion": gv,
                    "metadata": {"resourceVersion": "1"},
                    "items": items,
                },
            )

        def _watch(self, gv: str, kind: str, items: list[dict], query: dict) -> None:
            """A watch: every object as ADDED, the bookmark that ends a watch-list's initial
            events, then an idle stream until the client goes or its timeout passes."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = [{"type": "ADDED", "object": o} for o in items]
            if query.get("sendInitialEvents") == ["true"]:
                events.append(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": kind,
                            "apiVersion": gv,
                            "metadata": {
                                "resourceVersion": str(len(cluster.requests)),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        },
                    }
                )
            try:
                for event in events:
                    self._chunk(json.dumps(event).encode() + b"\n")
                deadline = time.monotonic() + min(
                    float((query.get("timeoutSeconds") or ["30"])[0]), 30.0
                )
                while time.monotonic() < deadline:
                    time.sleep(0.5)
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _store(self, code: int) -> None:
            url, route = self._route()
            if route is None:
                return self._not_found(url.path)
            gv, plural, ns, name, sub = route
            body = self._body()
            if self.command == "PATCH" and name:
                with cluster.lock:
                    current = cluster.objects.get((gv, plural, ns, name))
                if current is None:
                    return self._not_found(name)
                body = _merge(current, body)
            meta = body.setdefault("metadata", {})
            name = name if sub is None and name else meta.get("name", name)
            if ns:
                meta.setdefault("namespace", ns)
            meta.setdefault("uid", f"uid-{len(cluster.objects)}")
            meta["resourceVersion"] = str(len(cluster.requests))
            if sub is None:
                with cluster.lock:
                    cluster.objects[(gv, plural, ns, name)] = body
                    if self.command == "POST":
                        cluster.created.append(body)
            return self._send(code, _finished(body))

        def do_POST(self) -> None:  # noqa: N802
            cluster.requests.append(("POST", self.path))
            self._store(201)

        def do_PUT(self) -> None:  # noqa: N802
            cluster.requests.append(("PUT", self.path))
            self._store(200)

        def do_PATCH(self) -> None:  # noqa: N802
            cluster.requests.append(("PATCH", self.path))
            self._store(200)

        def do_DELETE(self) -> None:  # noqa: N802
            cluster.requests.append(("DELETE", self.path))
            # Delete options come as a body; read it, or it poisons the kept-alive connection.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url, route = self._route()
            if route is None or not route[3]:
                return self._not_found(url.path)
            gv, plural, ns, name, _ = route
            with cluster.lock:
                obj = cluster.objects.pop((gv, plural, ns, name), None)
            if obj is None:
                return self._not_found(name)
            return self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

    return Handler


PROTOBUF_MAGIC = b"k8s\x00"


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message, values raw."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _string_map_entry(entry: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, v in _fields(entry):
        if number == 1:
            key = v.decode()
        elif number == 2:
            value = v
    return key, value


def _secret_from_protobuf(raw: bytes) -> dict:
    """A v1 Secret from its protobuf envelope (runtime.Unknown around k8s.io.api.core.v1.Secret):
    name, namespace, labels, annotations, type and data: what the checks read."""
    import base64

    unknown = dict((n, v) for n, _, v in _fields(raw[len(PROTOBUF_MAGIC) :]))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {}, "data": {}}
    for number, _, value in _fields(unknown.get(2, b"")):
        if number == 1:
            meta = secret["metadata"]
            for n, _, v in _fields(value):
                if n == 1:
                    meta["name"] = v.decode()
                elif n == 3:
                    meta["namespace"] = v.decode()
                elif n in (11, 12):
                    k, val = _string_map_entry(v)
                    meta.setdefault("labels" if n == 11 else "annotations", {})[k] = val.decode()
        elif number == 2:
            k, val = _string_map_entry(value)
            secret["data"][k] = base64.b64encode(val).decode()
        elif number == 3:
            secret["type"] = value.decode()
    return secret


def _merge(current: dict, patch: dict) -> dict:
    merged = dict(current)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def start() -> tuple[Cluster, ThreadingHTTPServer]:
    cluster = Cluster()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(cluster))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return cluster, server
