"""Each check kind against real local servers on 127.0.0.1."""

from monitoring import checks


def http(config, timeout=5):
    return checks.run("http", config, timeout)


def test_http_up_when_status_accepted(http_server):
    outcome = http({"url": http_server.route("/health", body="all good")})
    assert outcome.ok and outcome.status_code == 200 and outcome.latency_ms is not None


def test_http_500_fails_with_response_as_evidence(http_server):
    outcome = http({"url": http_server.route("/health", status=500, body="database unreachable")})
    assert not outcome.ok
    assert "status 500" in outcome.message
    assert outcome.evidence["body"] == "database unreachable"


def test_accepted_statuses_can_include_404(http_server):
    url = http_server.route("/gone", status=404)
    assert not http({"url": url}).ok
    assert http({"url": url, "accepted_statuses": "200-299,404"}).ok


def test_method_headers_and_body_are_sent(http_server):
    url = http_server.route("/echo")
    assert http({"url": url, "method": "POST", "headers": {"X-Probe": "yes"}, "body": '{"a": 1}'}).ok
    sent = http_server.requests[-1]
    assert sent["method"] == "POST" and sent["headers"]["X-Probe"] == "yes" and sent["body"] == '{"a": 1}'


def test_keyword_present_and_absent(http_server):
    url = http_server.route("/page", body="<h1>Welcome</h1> maintenance mode")
    assert http({"url": url, "keyword": "Welcome"}).ok
    missing = http({"url": url, "keyword": "Checkout"})
    assert not missing.ok and "does not contain" in missing.message
    present = http({"url": url, "keyword": "maintenance", "keyword_mode": "absent"})
    assert not present.ok and "contains" in present.message


def test_json_path_assertion(http_server):
    url = http_server.route("/status", body={"checks": [{"name": "db", "status": "ok"}], "healthy": True},
                            content_type="application/json")
    assert http({"url": url, "json_path": "$.checks[0].status", "json_expected": "ok"}).ok
    assert http({"url": url, "json_path": "$.healthy", "json_expected": "true"}).ok
    wrong = http({"url": url, "json_path": "$.checks[0].status", "json_expected": "degraded"})
    assert not wrong.ok and 'is "ok", expected degraded' in wrong.message
    absent = http({"url": url, "json_path": "$.checks[3].status"})
    assert not absent.ok and "absent" in absent.message


def test_redirects_followed_or_not(http_server):
    target = http_server.route("/new", body="here")
    url = http_server.route("/old", status=301, headers={"Location": "/new"})
    followed = http({"url": url})
    assert followed.ok and followed.status_code == 200
    assert http_server.requests[-1]["path"] == "/new"
    not_followed = http({"url": url, "follow_redirects": False, "accepted_statuses": "200"})
    assert not not_followed.ok and not_followed.status_code == 301
    assert target.endswith("/new")


def test_max_response_time(http_server):
    url = http_server.route("/slow", delay=0.3)
    outcome = http({"url": url, "max_response_ms": 100})
    assert not outcome.ok and "more than the 100 ms allowed" in outcome.message


def test_timeout_fails_without_waiting_for_the_server(http_server):
    url = http_server.route("/hang", delay=3)
    outcome = http({"url": url}, timeout=0.5)
    assert not outcome.ok and "timed out" in outcome.message


def test_connection_refused_fails(tcp_listener):
    import socket

    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    outcome = http({"url": f"http://127.0.0.1:{port}/"})
    assert not outcome.ok and outcome.message


def test_tls_certificate_expiring_soon_passes_with_a_warning(https_server_factory):
    fresh = https_server_factory(days_valid=90)
    ok = http({"url": fresh.route("/", body="secure"), "verify_tls": False, "tls_expiry_days": 14})
    assert ok.ok and ok.warning == "" and ok.certificate_expires_at is not None
    expiring = https_server_factory(days_valid=5)
    outcome = http({"url": expiring.route("/", body="secure"), "verify_tls": False, "tls_expiry_days": 14})
    assert outcome.ok and outcome.status_code == 200
    assert outcome.warning.startswith("the TLS certificate expires in 5 days, on ")
    assert outcome.message == f"200 OK · {outcome.warning}"
    assert outcome.as_dict()["certificate_expires_at"] == outcome.certificate_expires_at
    off = http({"url": expiring.url("/"), "verify_tls": False, "tls_expiry_days": 0})
    assert off.ok and off.warning == ""


def test_tls_certificate_expiring_soon_does_not_hide_a_failed_assertion(https_server_factory):
    expiring = https_server_factory(days_valid=5)
    outcome = http({"url": expiring.route("/", status=500, body="down"), "verify_tls": False})
    assert not outcome.ok and "status 500" in outcome.message
    assert "expires in 5 days" in outcome.warning and outcome.evidence["certificate_expires_at"]


def test_expired_tls_certificate_fails(https_server_factory):
    expired = https_server_factory(days_valid=-1)
    outcome = http({"url": expired.route("/", body="secure"), "verify_tls": False})
    assert not outcome.ok and "the TLS certificate expired on" in outcome.message
    verified = http({"url": expired.url("/")})  # and a verifying handshake refuses it outright
    assert not verified.ok and "CERTIFICATE_VERIFY_FAILED" in verified.message


def test_self_signed_certificate_fails_verification(https_server_factory):
    server = https_server_factory(days_valid=90)
    outcome = http({"url": server.route("/")})
    assert not outcome.ok and "CERTIFICATE_VERIFY_FAILED" in outcome.message


def test_tcp_port_open_and_closed(tcp_listener):
    assert checks.run("tcp", {"host": "127.0.0.1", "port": tcp_listener}, 2).ok
    import socket

    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    closed = checks.run("tcp", {"host": "127.0.0.1", "port": port}, 2)
    assert not closed.ok and str(port) in closed.message


def test_dns_record_resolves_to_expected_value(dns_server):
    dns_server["records"][("shop.example.test", "A")] = ["10.0.0.7"]
    base = {"name": "shop.example.test", "record_type": "A", "nameserver": "127.0.0.1", "port": dns_server["port"]}
    assert checks.run("dns", {**base, "expected": "10.0.0.7"}, 2).ok
    wrong = checks.run("dns", {**base, "expected": "10.0.0.8"}, 2)
    assert not wrong.ok and "expected 10.0.0.8" in wrong.message
    missing = checks.run("dns", {**base, "name": "nope.example.test"}, 2)
    assert not missing.ok and "NXDOMAIN" in missing.message


def test_journey_passes_values_between_steps(http_server):
    http_server.route("/login", body={"token": "t-123"}, content_type="application/json",
                      headers={"X-Session": "s-9"})
    http_server.route("/orders", body=lambda handler, body: (
        '{"id": 42}' if handler.headers.get("Authorization") == "Bearer t-123" else '{"error": "no"}'),
        content_type="application/json")
    http_server.route("/orders/42", body="order 42 shipped")
    config = {"variables": {"base": http_server.url("")}, "steps": [
        {"name": "log in", "method": "POST", "url": "{{base}}/login", "body": "user=probe",
         "extract": {"token": {"from": "json", "path": "$.token"}, "session": {"from": "header", "name": "x-session"}}},
        {"name": "create order", "url": "{{base}}/orders", "headers": {"Authorization": "Bearer {{token}}"},
         "extract": {"order": {"from": "regex", "pattern": r'"id": (\d+)'}}},
        {"name": "see order", "url": "{{base}}/orders/{{order}}", "assert": {"keyword": "shipped"}},
    ]}
    outcome = checks.run("journey", config, 5)
    assert outcome.ok, outcome.message
    assert http_server.requests[-1]["path"] == "/orders/42"


def test_journey_failing_step_and_response_are_the_evidence(http_server):
    http_server.route("/login", body={"token": "t-1"}, content_type="application/json")
    http_server.route("/cart", status=503, body="cart service down")
    config = {"steps": [
        {"name": "log in", "url": http_server.url("/login"), "extract": {"token": {"from": "json", "path": "$.token"}}},
        {"name": "open cart", "url": http_server.url("/cart?t={{token}}")},
    ]}
    outcome = checks.run("journey", config, 5)
    assert not outcome.ok
    assert outcome.message.startswith("open cart: status 503")
    assert outcome.evidence["step"] == 2 and outcome.evidence["response"]["body"] == "cart service down"
    assert outcome.evidence["request"]["url"].endswith("/cart?t=t-1")


def test_journey_time_budget(http_server):
    http_server.route("/a", delay=0.4)
    http_server.route("/b", delay=0.4)
    outcome = checks.run("journey", {"steps": [{"url": http_server.url("/a")}, {"url": http_server.url("/b")}]}, 0.6)
    assert not outcome.ok and "time budget" in outcome.message
