"""TCP port open: connect, and close at once."""

import socket

from monitoring.checks import Deadline, Outcome


def check(config: dict, deadline: Deadline) -> Outcome:
    host, port = config["host"], int(config["port"])
    try:
        with socket.create_connection((host, port), timeout=deadline.remaining()):
            pass
    except TimeoutError:
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=f"{host}:{port} did not answer in time",
                       evidence={"host": host, "port": port})
    except OSError as exc:
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=f"{host}:{port}: {exc.strerror or exc}",
                       evidence={"host": host, "port": port})
    return Outcome(ok=True, latency_ms=deadline.elapsed_ms(), message=f"{host}:{port} open")
