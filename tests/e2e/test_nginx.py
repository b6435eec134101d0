"""The TLS proxy of the production profile: deploy/nginx/mlops.conf.template rendered as the nginx
image renders it, checked with `nginx -t`, then run with the Debian nginx in front of two small
HTTP servers standing in for the API and the UI. Every port comes from the kernel."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from mlops_pipeline.config import Settings
from tests.support.helpers import require_tool

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "mlops.conf.template"
SELFSIGNED_CERT = ROOT / "deploy" / "nginx" / "selfsigned-cert"
PROXY_SERVICE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["proxy"]
TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")

# /etc/nginx/nginx.conf of the official image, paths moved into the test's folder: the rendered
# template is included inside its http block, so a directive the template repeats at that level
# (keepalive_timeout, say) fails here as it would fail the container.
MAIN_CONF = """\
{user}
worker_processes 1;
daemon off;
error_log {tmp}/error.log notice;
pid {tmp}/nginx.pid;

events {{
    worker_connections 64;
}}

http {{
    {mime_types}
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    access_log {tmp}/access.log main;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/conf.d/*.conf;
}}
"""


def render(template: str, values: Mapping[str, str]) -> str:
    """What the image's 20-envsubst-on-templates.sh does: replace the defined variables only."""
    return TEMPLATE_VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- static checks ------------------------------------------------------------------------------


def test_compose_sets_every_template_variable_and_nothing_else_is_substituted() -> None:
    text = TEMPLATE.read_text()
    used = set(TEMPLATE_VARIABLE.findall(text))
    assert used == set(PROXY_SERVICE["environment"])
    # envsubst also replaces $NAME; only nginx's lower-case variables may appear unbraced.
    assert not re.findall(r"\$[A-Z]", text)
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", PROXY_SERVICE["image"])
    mounts = PROXY_SERVICE["volumes"]
    assert (
        "./deploy/nginx/mlops.conf.template:/etc/nginx/templates/default.conf.template:ro" in mounts
    )
    tls = [m for m in mounts if isinstance(m, dict)]
    assert {m["source"] for m in tls} == {
        "${TLS_CERT_FILE:-/etc/mlops/tls/cert.pem}",
        "${TLS_KEY_FILE:-/etc/mlops/tls/key.pem}",
    }
    assert all(m["read_only"] and m["type"] == "bind" for m in tls)


def test_limits_and_timeouts_match_the_api() -> None:
    text = TEMPLATE.read_text()
    api_server = text.split("listen ${LISTEN_API}")[1].split("\nserver {")[0]
    limit = re.search(r"client_max_body_size (\d+)m;", api_server)
    assert limit is not None
    assert int(limit.group(1)) * 1024 * 1024 == Settings.model_fields["max_body_bytes"].default
    for directive in ("client_header_timeout", "client_body_timeout"):
        seconds = re.search(rf"^{directive} (\d+)s;", text, flags=re.MULTILINE)
        assert seconds is not None, directive
        assert int(seconds.group(1)) <= 15, directive
    assert re.search(r"^server_tokens off;", text, flags=re.MULTILINE)
    assert re.search(r"^ssl_protocols TLSv1.2 TLSv1.3;", text, flags=re.MULTILINE)
    assert "proxy_intercept_errors off;" in api_server  # the API's own errors pass through


# --- nginx, for real ----------------------------------------------------------------------------


class Backend(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), Echo)
        self.name = name
        self.requests: list[dict[str, object]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class Echo(http.server.BaseHTTPRequestHandler):
    """Answers what it received as JSON; /close hangs up without answering (a crashed upstream)."""

    protocol_version = "HTTP/1.1"
    server: Backend

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = {
            "backend": self.server.name,
            "method": self.command,
            "path": self.path,
            "headers": {key.lower(): value for key, value in self.headers.items()},
            "body_bytes": len(body),
        }
        self.server.requests.append(seen)
        if self.path == "/close":
            self.close_connection = True
            return
        payload = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def grpc_backend(artifacts_dir: Path, tmp: Path) -> Iterator[str]:
    """The real V2 gRPC service in process on a free port; yields its address."""
    from prometheus_client import CollectorRegistry

    from mlops_pipeline.bootstrap import build_components
    from mlops_pipeline.config import database_url
    from mlops_pipeline.monitoring.metrics import Metrics
    from mlops_pipeline.protocol.access_log import AccessLog
    from mlops_pipeline.rpc.server import grpc_server
    from mlops_pipeline.rpc.service import InferenceServicer
    from mlops_pipeline.storage.schema import upgrade

    settings = Settings(artifacts_dir=artifacts_dir, db_path=tmp / "grpc.db")
    upgrade(database_url(settings))
    metrics = Metrics(CollectorRegistry())
    components = build_components(settings, metrics)
    servicer = InferenceServicer(components.service, metrics, "iris", 100, AccessLog(enabled=False))
    server, port = grpc_server(servicer, "127.0.0.1", 0, settings.max_body_bytes)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)
        components.close()


@dataclass
class Proxy:
    http: str
    ui: str
    api: str
    grpc: str
    cert: Path
    config: Path
    tmp: Path
    nginx: str
    api_backend: Backend


def make_config(tmp: Path, values: Mapping[str, str]) -> Path:
    (tmp / "conf.d").mkdir(exist_ok=True)
    (tmp / "conf.d" / "default.conf").write_text(render(TEMPLATE.read_text(), values))
    mime_types = Path("/etc/nginx/mime.types")
    main = tmp / "nginx.conf"
    main.write_text(
        MAIN_CONF.format(
            tmp=tmp,
            # Workers of a root master run as `nobody`, who cannot write the temp folders here.
            user="user root;" if os.geteuid() == 0 else "",
            mime_types=f"include {mime_types};" if mime_types.exists() else "",
        )
    )
    return main


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # fast shutdown: the master stops its workers
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Proxy]:
    nginx = require_tool("nginx", "/usr/sbin", "/sbin")
    require_tool("openssl")
    tmp = tmp_path_factory.mktemp("nginx")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    # The script the instance runs (deploy/aws/release.sh) when no certificate was provided.
    subprocess.run([SELFSIGNED_CERT, cert, key, "127.0.0.1", "localhost"], check=True)
    api, ui = Backend("api"), Backend("ui")
    grpc_stack = contextlib.ExitStack()
    grpc_address = grpc_stack.enter_context(grpc_backend(artifacts_dir, tmp))
    try:
        for _attempt in range(3):  # another program may take a port before nginx binds it
            listeners = ("LISTEN_HTTP", "LISTEN_HTTPS", "LISTEN_API", "LISTEN_GRPC")
            ports = {name: free_port() for name in listeners}
            values = {
                **{name: f"127.0.0.1:{port}" for name, port in ports.items()},
                "API_UPSTREAM": api.address,
                "UI_UPSTREAM": ui.address,
                "GRPC_UPSTREAM": grpc_address,
                "DNS_RESOLVER": "127.0.0.1",
                "TLS_CERT": str(cert),
                "TLS_KEY": str(key),
            }
            config = make_config(tmp, values)
            checked = subprocess.run(
                [nginx, "-t", "-p", str(tmp), "-c", str(config), "-e", str(tmp / "error.log")],
                capture_output=True,
                text=True,
                check=False,
            )
            assert checked.returncode == 0, checked.stderr
            assert "[warn]" not in checked.stderr, checked.stderr
            process = subprocess.Popen(
                [nginx, "-p", str(tmp), "-c", str(config), "-e", str(tmp / "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                if all(listening(port) for port in ports.values()):
                    break
                time.sleep(0.05)
            if process.poll() is None and all(listening(port) for port in ports.values()):
                break
            stop(process)
        else:
            pytest.fail("nginx did not start: " + (tmp / "error.log").read_text()[-2000:])
        try:
            yield Proxy(
                http=f"http://127.0.0.1:{ports['LISTEN_HTTP']}",
                ui=f"https://127.0.0.1:{ports['LISTEN_HTTPS']}",
                api=f"https://127.0.0.1:{ports['LISTEN_API']}",
                grpc=f"127.0.0.1:{ports['LISTEN_GRPC']}",
                cert=cert,
                config=config,
                tmp=tmp,
                nginx=nginx,
                api_backend=api,
            )
        finally:
            stop(process)
    finally:
        api.shutdown()
        ui.shutdown()
        grpc_stack.close()


def test_https_reaches_the_api_with_forwarding_headers(proxy: Proxy) -> None:
    response = requests.get(
        proxy.api + "/ready?x=1",
        headers={"X-Forwarded-For": "203.0.113.9"},  # a client cannot pose as someone else
        verify=str(proxy.cert),
        timeout=5,
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["backend"] == "api"
    assert seen["path"] == "/ready?x=1"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert response.headers["Server"] == "nginx"  # no version
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_https_reaches_the_ui_and_upgrades_its_websocket(proxy: Proxy) -> None:
    page = requests.get(proxy.ui + "/", verify=str(proxy.cert), timeout=5)
    assert page.json()["backend"] == "ui"
    stream = requests.get(
        proxy.ui + "/_stcore/stream",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
        verify=str(proxy.cert),
        timeout=5,
    ).json()
    assert stream["backend"] == "ui"
    assert stream["headers"]["upgrade"] == "websocket"
    assert stream["headers"]["connection"] == "upgrade"


def test_grpc_over_tls_reaches_the_inference_service(proxy: Proxy) -> None:
    import numpy as np
    import tritonclient.grpc as triton

    with triton.InferenceServerClient(
        proxy.grpc, ssl=True, root_certificates=str(proxy.cert)
    ) as client:
        assert client.is_model_ready("iris")
        tensor = triton.InferInput("input", [1, 4], "FP64")
        tensor.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 0.2]]))
        assert client.infer("iris", [tensor]).as_numpy("label").tolist() == [0]
        with pytest.raises(triton.InferenceServerException, match="no version"):
            client.infer("iris", [tensor], model_version="v9")
    from mlops_pipeline.cli.smoke import run_grpc_smoke

    assert run_grpc_smoke(proxy.grpc, root_certificates=proxy.cert.read_bytes()) == []


def test_grpc_errors_made_by_nginx_are_grpc_statuses(proxy: Proxy) -> None:
    import grpc

    credentials = grpc.ssl_channel_credentials(proxy.cert.read_bytes())
    with grpc.secure_channel(proxy.grpc, credentials) as channel:
        too_large = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        with pytest.raises(grpc.RpcError) as raised:
            too_large(b"\x00" * (5 * 1024 * 1024), timeout=10)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    plain = proxy.grpc  # the TLS port refuses a plaintext client rather than serve it
    with grpc.insecure_channel(plain) as channel:
        live = channel.unary_unary("/inference.GRPCInferenceService/ServerLive")
        with pytest.raises(grpc.RpcError) as raised:
            live(b"", timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_self_signed_certificate_passes_strict_verification(proxy: Proxy) -> None:
    # Python 3.13 clients verify with VERIFY_X509_STRICT by default; the certificate must pass.
    context = ssl.create_default_context(cafile=str(proxy.cert))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with urllib.request.urlopen(proxy.api + "/ready", context=context, timeout=5) as response:
        assert response.status == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(proxy.api + "/ready", timeout=5)  # not trusted without pinning it


def test_http_redirects_to_https(proxy: Proxy) -> None:
    response = requests.get(proxy.http + "/predict?x=1", allow_redirects=False, timeout=5)
    assert response.status_code == 301
    assert response.headers["Location"] == "https://127.0.0.1/predict?x=1"
    health = requests.get(proxy.http + "/nginx-health", timeout=5)  # the compose healthcheck
    assert (health.status_code, health.text) == (200, "ok\n")


def test_oversized_body_gets_json_413_and_never_reaches_the_api(proxy: Proxy) -> None:
    limit = Settings.model_fields["max_body_bytes"].default
    before = len(proxy.api_backend.requests)
    headers = {"Content-Type": "application/json"}
    too_big = requests.post(
        proxy.api + "/predict",
        data=b" " * (limit + 1),
        headers=headers,
        verify=str(proxy.cert),
        timeout=10,
    )
    assert too_big.status_code == 413
    assert too_big.headers["Content-Type"] == "application/json"
    assert too_big.json()["code"] == "payload_too_large"
    assert set(too_big.json()) == {"error", "code"}
    assert len(proxy.api_backend.requests) == before
    at_limit = requests.post(
        proxy.api + "/predict",
        data=b" " * limit,
        headers=headers,
        verify=str(proxy.cert),
        timeout=10,
    )
    assert at_limit.json()["body_bytes"] == limit


@pytest.mark.parametrize(
    ("how", "status", "code"),
    [
        ("upstream hangs up", 502, "bad_gateway"),
        ("plain http to the https port", 400, "bad_request"),
    ],
)
def test_errors_made_by_nginx_are_api_json(proxy: Proxy, how: str, status: int, code: str) -> None:
    if how == "upstream hangs up":
        response = requests.get(proxy.api + "/close", verify=str(proxy.cert), timeout=10)
    else:
        response = requests.get(proxy.api.replace("https://", "http://") + "/ready", timeout=5)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert isinstance(response.json()["error"], str)


def test_malformed_request_is_json_400(proxy: Proxy) -> None:
    host, port = proxy.api.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(proxy.cert))
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")  # two Host headers
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["code"] == "bad_request"


def test_healthcheck_trusts_the_pinned_certificate_only(proxy: Proxy) -> None:
    command = [
        sys.executable,
        str(ROOT / "scripts" / "healthcheck"),
        *("--api", proxy.api, "--ui", proxy.ui, "--prometheus", "", "--timeout", "0.5"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}

    def run(*extra: str, **variables: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *extra],
            env={**env, **variables},
            capture_output=True,
            text=True,
            check=False,
        )

    untrusted = run()
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    pinned = run("--cacert", str(proxy.cert))
    assert pinned.returncode == 0, pinned.stderr
    assert f"ready: api ({proxy.api}/ready)" in pinned.stdout
    assert f"ready: ui ({proxy.ui}/_stcore/health)" in pinned.stdout
    from_env = run(REQUESTS_CA_BUNDLE=str(proxy.cert))  # as Jenkins sets it
    assert from_env.returncode == 0, from_env.stderr


def test_config_rendered_with_the_compose_environment_passes_nginx_t(proxy: Proxy) -> None:
    # The production values (ports 80/443/8443, upstreams by service name, Docker's DNS), with
    # only the certificate paths moved here; hostnames in `set $upstream` resolve per request.
    tmp = proxy.tmp / "production"
    tmp.mkdir()
    values = {
        **PROXY_SERVICE["environment"],
        "TLS_CERT": str(proxy.cert),
        "TLS_KEY": str(proxy.cert.with_name("key.pem")),
    }
    config = make_config(tmp, values)
    checked = subprocess.run(
        [proxy.nginx, "-t", "-p", str(tmp), "-c", str(config), "-e", str(tmp / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    rendered = (tmp / "conf.d" / "default.conf").read_text()
    assert "set $api_upstream http://api:5000;" in rendered
    assert "listen 8443 ssl default_server;" in rendered
    assert "set $grpc_upstream grpc://api:8081;" in rendered
    assert "${" not in rendered
