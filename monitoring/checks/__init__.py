"""The checks: each kind's module knows how to probe one thing and nothing of models,
state or alerts. `run(kind, config, timeout)` returns an Outcome; it never raises for a
failure of the probed thing (that is a failed Outcome), and always returns within about
`timeout` seconds (every socket operation is bounded by the remaining time)."""

import time
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Outcome:
    ok: bool
    latency_ms: float | None = None
    status_code: int | None = None
    message: str = ""
    # What a responder needs to see when it failed: the response, the step, the record.
    evidence: dict = field(default_factory=dict)
    # Passed, but something needs attention soon (a TLS certificate about to expire).
    warning: str = ""
    # The server's TLS certificate's notAfter, when an https check got that far.
    certificate_expires_at: datetime | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "latency_ms": self.latency_ms, "status_code": self.status_code,
                "message": self.message, "evidence": self.evidence, "warning": self.warning,
                "certificate_expires_at": self.certificate_expires_at}


class Deadline:
    """The time left for one check; every blocking call takes `remaining()` as its timeout."""

    def __init__(self, seconds: float):
        self.started = time.monotonic()
        self.until = self.started + seconds

    def remaining(self) -> float:
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    def elapsed_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 2)


def run(kind: str, config: dict, timeout: float) -> Outcome:
    from monitoring.checks import dns, http, journey, tcp

    runner = {"http": http.check, "tcp": tcp.check, "dns": dns.check, "journey": journey.check}.get(kind)
    if runner is None:
        return Outcome(ok=False, message=f"{kind} monitors are not checked by the engine")
    try:
        return runner(config, Deadline(timeout))
    except TimeoutError:
        return Outcome(ok=False, message=f"timed out after {timeout:g}s")
    except Exception as exc:  # a bug or an odd network error must fail the check, not the engine
        return Outcome(ok=False, message=f"{type(exc).__name__}: {exc}"[:500])
