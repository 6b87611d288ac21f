"""HTTP(S) checks, on http.client: we need the peer certificate (expiry), per-hop
redirects and a hard deadline on every socket operation, which the usual clients hide.

config: url, method (GET), headers {}, body "", follow_redirects (true), accepted_statuses
("200-399"), keyword + keyword_mode (present|absent), json_path + json_expected,
max_response_ms, tls_expiry_days (14; 0 = off), verify_tls (true).

TLS certificate expiry: a certificate that expires within `tls_expiry_days` is a
*warning* (the check passes, the Outcome carries the warning and the expiry); one that
has expired is a failure, and so is one that does not verify (with verify_tls).
"""

import http.client
import json
import math
import re
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from monitoring.checks import Deadline, Outcome

MAX_BODY_BYTES = 1_000_000  # read at most this much of a response
EVIDENCE_BODY_CHARS = 2_000  # and keep this much as evidence
MAX_REDIRECTS = 10
USER_AGENT = "Alertum-Monitor/1.0"


@dataclass
class Response:
    status: int
    reason: str
    headers: dict
    body: bytes
    elapsed_ms: float
    url: str
    redirects: list = field(default_factory=list)
    cert_not_after: datetime | None = None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def evidence(self) -> dict:
        return {"url": self.url, "status": self.status, "reason": self.reason, "elapsed_ms": self.elapsed_ms,
                "headers": dict(list(self.headers.items())[:30]), "body": self.text()[:EVIDENCE_BODY_CHARS],
                "redirects": self.redirects}


def _context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


_CONTEXTS = {True: None, False: None}


def context(verify: bool) -> ssl.SSLContext:
    # Building a context loads the CA store (~10 ms); one per process is enough.
    if _CONTEXTS[verify] is None:
        _CONTEXTS[verify] = _context(verify)
    return _CONTEXTS[verify]


def _cert_not_after(sock) -> datetime | None:
    der = sock.getpeercert(binary_form=True) if sock is not None else None
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).not_valid_after_utc


def request(method: str, url: str, *, headers: dict | None = None, body: str | bytes | None = None,
            deadline: Deadline, follow_redirects: bool = True, verify_tls: bool = True) -> Response:
    """One request, following redirects if asked, all within the deadline."""
    redirects = []
    data = body.encode() if isinstance(body, str) else body
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, port, timeout=deadline.remaining(),
                                               context=context(verify_tls))
        else:
            conn = http.client.HTTPConnection(parts.hostname, port, timeout=deadline.remaining())
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            send_headers = {"User-Agent": USER_AGENT, "Accept": "*/*", **(headers or {})}
            conn.connect()
            cert = _cert_not_after(conn.sock) if parts.scheme == "https" else None
            conn.sock.settimeout(deadline.remaining())
            conn.request(method, path, body=data, headers=send_headers)
            conn.sock.settimeout(deadline.remaining())
            resp = conn.getresponse()
            chunks, size = [], 0
            while size < MAX_BODY_BYTES:
                if conn.sock is not None:
                    conn.sock.settimeout(deadline.remaining())
                chunk = resp.read(min(65536, MAX_BODY_BYTES - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            response = Response(status=resp.status, reason=resp.reason, headers=dict(resp.getheaders()),
                                body=b"".join(chunks), elapsed_ms=deadline.elapsed_ms(), url=url,
                                redirects=list(redirects), cert_not_after=cert)
        finally:
            conn.close()
        location = response.headers.get("Location") or response.headers.get("location")
        if follow_redirects and response.status in (301, 302, 303, 307, 308) and location:
            redirects.append({"status": response.status, "url": url})
            url = urljoin(url, location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, data = "GET", None
            continue
        return response
    raise ValueError(f"more than {MAX_REDIRECTS} redirects")


# --- assertions --------------------------------------------------------------------------------

def parse_statuses(spec) -> list[tuple[int, int]]:
    """"200-299,301" or [200, 301] -> [(200, 299), (301, 301)]; ValueError when malformed."""
    if isinstance(spec, list):
        spec = ",".join(str(s) for s in spec)
    ranges = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        low_n, high_n = int(low), int(high or low)
        if not (100 <= low_n <= high_n <= 599):
            raise ValueError(f"{part!r} is not a status code or range between 100 and 599")
        ranges.append((low_n, high_n))
    if not ranges:
        raise ValueError("at least one accepted status code is required")
    return ranges


_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[\"([^\"]+)\"\]")


def json_path(document, path: str):
    """A small JSONPath subset: `$.a.b[0]["c d"]`. KeyError/IndexError when absent."""
    path = path.strip()
    path = path[1:] if path.startswith("$") else path
    value, pos = document, 0
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            raise ValueError(f"cannot read JSON path at {path[pos:]!r}")
        key = m.group(1) or m.group(3)
        if key is not None:
            if not isinstance(value, dict):
                raise KeyError(key)
            value = value[key]
        else:
            if not isinstance(value, list):
                raise IndexError(int(m.group(2)))
            value = value[int(m.group(2))]
        pos = m.end()
    return value


def json_path_valid(path: str) -> bool:
    try:
        json_path({}, path)
    except (KeyError, IndexError):
        return True
    except ValueError:
        return False
    return True


def _same(actual, expected: str) -> bool:
    if isinstance(actual, str):
        return actual == expected
    return json.dumps(actual) == expected or str(actual) == expected


def assert_response(response: Response, config: dict) -> str | None:
    """The first assertion the response fails, as a sentence; None when all hold."""
    spec = config.get("accepted_statuses") or "200-399"
    if not any(low <= response.status <= high for low, high in parse_statuses(spec)):
        return f"status {response.status} {response.reason} is not accepted ({spec})"
    keyword = config.get("keyword")
    if keyword:
        present = keyword in response.text()
        if config.get("keyword_mode", "present") == "absent" and present:
            return f"the body contains “{keyword}”"
        if config.get("keyword_mode", "present") != "absent" and not present:
            return f"the body does not contain “{keyword}”"
    path = config.get("json_path")
    if path:
        try:
            actual = json_path(json.loads(response.body), path)
        except ValueError:
            return "the body is not JSON"
        except (KeyError, IndexError, TypeError):
            return f"{path} is absent from the JSON body"
        expected = config.get("json_expected")
        if expected not in (None, "") and not _same(actual, str(expected)):
            return f"{path} is {json.dumps(actual)[:100]}, expected {expected}"
    limit = config.get("max_response_ms")
    if limit and response.elapsed_ms > float(limit):
        return f"answered in {response.elapsed_ms:.0f} ms, more than the {float(limit):.0f} ms allowed"
    return None


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days until `expires_at`, rounded up (4.2 days left: "expires in 5 days");
    0 or less once it has passed."""
    return math.ceil((expires_at - now).total_seconds() / 86400)


def certificate_expiring(expires_at: datetime | None, now: datetime, warn_days) -> bool:
    """Inside the warning window (or past it): `warn_days` 0 turns the warning off."""
    return bool(expires_at and warn_days) and (expires_at - now).total_seconds() < float(warn_days) * 86400


def check(config: dict, deadline: Deadline) -> Outcome:
    try:
        response = request(config.get("method") or "GET", config["url"], headers=config.get("headers") or {},
                           body=config.get("body") or None, deadline=deadline,
                           follow_redirects=config.get("follow_redirects", True),
                           verify_tls=config.get("verify_tls", True))
    except TimeoutError:
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message="timed out",
                       evidence={"url": config["url"]})
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, socket.gaierror):
            text = f"cannot resolve host: {exc.strerror}"
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=text[:500], evidence={"url": config["url"]})
    evidence = response.evidence()
    failure = assert_response(response, config)
    expires_at, warning = response.cert_not_after, ""
    if expires_at is not None:
        evidence["certificate_expires_at"] = expires_at.isoformat()
        warn_days, now = config.get("tls_expiry_days", 14), datetime.now(UTC)
        if certificate_expiring(expires_at, now, warn_days):
            days = days_left(expires_at, now)
            if expires_at <= now:
                # Only reachable without verify_tls: a verifying handshake refuses it already.
                failure = failure or f"the TLS certificate expired on {expires_at:%Y-%m-%d %H:%M} UTC"
            else:
                warning = (f"the TLS certificate expires in {days} day{'s' if days != 1 else ''}, "
                           f"on {expires_at:%Y-%m-%d} (warning at {warn_days} days)")
    if failure:
        return Outcome(ok=False, latency_ms=response.elapsed_ms, status_code=response.status, message=failure[:500],
                       evidence=evidence, warning=warning, certificate_expires_at=expires_at)
    message = f"{response.status} {response.reason}" + (f" · {warning}" if warning else "")
    return Outcome(ok=True, latency_ms=response.elapsed_ms, status_code=response.status, message=message[:500],
                   evidence={}, warning=warning, certificate_expires_at=expires_at)
