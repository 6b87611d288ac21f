"""Real local servers for the transports to talk to: an SMTP server (aiosmtpd) and HTTP
servers on 127.0.0.1 that record every request and answer as each test asks.

No mocks of requests or smtplib: every test goes through real sockets.
"""

import base64
import email
import email.policy
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from alertum.core.notify import Message

# ---------------------------------------------------------------------------- HTTP


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(self.body.decode(), strict_parsing=True).items()}

    def basic_auth(self) -> tuple[str, str] | None:
        scheme, _, encoded = self.headers.get("authorization", "").partition(" ")
        if scheme != "Basic":
            return None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user, password


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class LocalHTTPServer:
    """Records each request; answers with the queued replies in order, then with
    `responder(recorded)` (a function returning a Reply), else 200 "ok"."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.responder = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: without this, Nagle holds the body until the
            # client's delayed ACK (40 ms) on a kept-alive connection.
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                    self.rfile.read(length))
                server.requests.append(recorded)
                reply = (server.replies.popleft() if server.replies
                         else server.responder(recorded) if server.responder else Reply(200, b"ok"))
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # paging workers send concurrently; 5 (the default) drops connections

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, status=200, body=b"", headers=None, delay=0.0) -> None:
        self.replies.append(Reply(status, body, headers or {}, delay))

    @property
    def last(self) -> Recorded:
        return self.requests[-1]


@pytest.fixture
def http_server():
    server = LocalHTTPServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def short_timeouts(settings):
    """Client timeouts short enough for a server that sleeps 2 s to trip them."""
    settings.NOTIFY_CONNECT_TIMEOUT = 2
    settings.NOTIFY_READ_TIMEOUT = 0.3


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------- SMTP


class SMTPRecorder:
    """aiosmtpd handler: accepts and keeps messages, or refuses every RCPT with `rcpt_reply`."""

    def __init__(self, rcpt_reply: str | None = None):
        self.rcpt_reply = rcpt_reply
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


def _start_smtp(handler) -> Controller:
    # aiosmtpd's controller needs a fixed port (it connects to it to check it is up):
    # take a free one from the kernel, and try again on the rare clash.
    for _ in range(5):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        try:
            controller.start()
        except (OSError, RuntimeError):
            continue
        return controller
    raise RuntimeError("could not start the local SMTP server")


@pytest.fixture
def smtp_factory(settings):
    """Start an SMTP server with a given handler and point Django's SMTP backend at it."""
    controllers = []

    def start(handler: SMTPRecorder) -> SMTPRecorder:
        controller = _start_smtp(handler)
        controllers.append(controller)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = controller.port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.DEFAULT_FROM_EMAIL = "Alertum <alertum@alertum.example>"
        return handler

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_factory) -> SMTPRecorder:
    return smtp_factory(SMTPRecorder())


# ---------------------------------------------------------------------------- Twilio

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "auth-token-for-tests"
FROM = "+15005550006"

# Twilio's test credentials answer these To numbers with these errors.
MAGIC_ERRORS = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}


def twilio_error(status: int, code: int, text: str, retry_after: str | None = None) -> Reply:
    body = {"code": code, "message": text, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    headers = {"Content-Type": "application/json"} | ({"Retry-After": retry_after} if retry_after else {})
    return Reply(status, json.dumps(body), headers)


@pytest.fixture
def twilio(http_server, settings):
    """A Twilio-compatible server that checks what Twilio checks (basic auth, the account
    in the path, a form body) and answers as Twilio does; settings point at it."""
    paths = {f"/2010-04-01/Accounts/{SID}/Messages.json": "SM", f"/2010-04-01/Accounts/{SID}/Calls.json": "CA"}

    def respond(request: Recorded) -> Reply:
        if request.basic_auth() != (SID, TOKEN):
            return twilio_error(401, 20003, "Authenticate")
        if request.method != "POST" or request.path not in paths:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return twilio_error(400, 20001, "Expected a form body")
        form = request.form()
        if form["To"] in MAGIC_ERRORS:
            return twilio_error(400, *MAGIC_ERRORS[form["To"]])
        sid = f"{paths[request.path]}{len(http_server.requests):032x}"
        return Reply(201, json.dumps({"sid": sid, "status": "queued", "to": form["To"]}),
                     {"Content-Type": "application/json"})

    http_server.responder = respond
    settings.TWILIO_BASE_URL = http_server.url + "/"
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_FROM_NUMBER = FROM
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    return http_server


# ---------------------------------------------------------------------------- message


@pytest.fixture
def message() -> Message:
    return Message(
        title="Checkout errors <5xx> & timeouts",
        text="Error rate 12% on checkout since 09:00.",
        severity="P1",
        reference="INC-42",
        event="incident.triggered",
        urls={"Acknowledge": "https://alertum.example/l/ack/abc", "Resolve": "https://alertum.example/l/res/abc"},
        fields={"Service": "Checkout", "Status": "triggered"},
        key="page-42-1-0-7",
    )
