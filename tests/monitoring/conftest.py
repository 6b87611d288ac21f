"""Real local servers on 127.0.0.1 for the checks: HTTP (status, latency, body, headers
set per path by the test), HTTPS with a self-signed certificate made here, a TCP listener
and a tiny UDP DNS responder."""

import datetime as dt
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitoring import actions


class Route:
    def __init__(self, status=200, body="ok", delay=0.0, headers=None, content_type="text/plain"):
        self.status, self.body, self.delay = status, body, delay
        self.headers = headers or {}
        self.content_type = content_type


class Server:
    def __init__(self, httpd, scheme):
        self.httpd, self.scheme = httpd, scheme
        self.routes: dict[str, Route] = {}
        self.requests: list[dict] = []
        httpd.owner = self

    @property
    def port(self):
        return self.httpd.server_address[1]

    def url(self, path="/"):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path, **kwargs):
        self.routes[path] = Route(**kwargs)
        return self.url(path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        path = self.path.split("?")[0]
        owner.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                               "body": body})
        route = owner.routes.get(path) or Route(status=404, body="not found")
        if route.delay:
            time.sleep(route.delay)
        if callable(route.body):
            payload = route.body(self, body)
        else:
            payload = route.body if isinstance(route.body, str) else json.dumps(route.body)
        data = payload.encode()
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the check gave up (its time-out)
                pass

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _serve


def _start(httpd):
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def http_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server = Server(httpd, "http")
    _start(httpd)
    yield server
    httpd.shutdown()
    httpd.server_close()


def make_certificate(tmp_path, days_valid: int):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days_valid)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"cert{days_valid}.pem", tmp_path / f"key{days_valid}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def https_server_factory(tmp_path):
    started = []

    def start(days_valid=90, port=0):
        """A new server; `port` of a stopped one serves a renewed certificate at the same URL."""
        cert_path, key_path = make_certificate(tmp_path, days_valid)
        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        server = Server(httpd, "https")
        _start(httpd)
        started.append(httpd)
        return server

    def stop(server):
        server.httpd.shutdown()
        server.httpd.server_close()
        started.remove(server.httpd)

    start.stop = stop
    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def tcp_listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.close()
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(1)
    sock.close()


@pytest.fixture
def dns_server():
    """Answers A/TXT queries from `records` {(name, type): [values]}; NXDOMAIN otherwise."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    records: dict[tuple[str, str], list[str]] = {}
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".")
            rtype = dns.rdatatype.to_text(question.rdtype)
            values = records.get((name, rtype))
            if values is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rtype, values))
            sock.sendto(response.to_wire(), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield {"port": sock.getsockname()[1], "records": records}
    stop.set()
    thread.join(1)
    sock.close()


@pytest.fixture
def make_monitor(services, cast):
    def make(kind="http", config=None, service="checkout", actor="alice", **values):
        return actions.create_monitor(service=services[service], name=values.pop("name", f"{kind} check"),
                                      kind=kind, config=config or {}, actor=cast[actor] if actor else None,
                                      source="web", **values)

    return make


def states(monitor):
    monitor.refresh_from_db()
    return monitor.state

