"""What every format normalises to: the pipeline knows these two shapes and nothing of
any sender's wire format."""

from dataclasses import dataclass, field
from datetime import datetime


class FormatError(Exception):
    """The body does not follow the sender's format; `errors` lists each problem."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or [message]


@dataclass
class AlertEvent:
    action: str  # "trigger" | "acknowledge" | "resolve"
    dedup_key: str  # the alert's identity within its integration (PD dedup_key, AM fingerprint, ...)
    summary: str = ""
    severity: str = "error"  # critical | error | warning | info
    source: str = ""  # where it happened (host, instance), for display
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    links: list[dict] = field(default_factory=list)  # [{"href": ..., "text": ...}]
    occurred_at: datetime | None = None  # the sender's own time, if it gave one
    details: dict = field(default_factory=dict)  # custom_details and the like, shown as evidence


@dataclass
class ChangeEventData:
    summary: str
    source: str = ""
    occurred_at: datetime | None = None
    custom_details: dict = field(default_factory=dict)
    links: list[dict] = field(default_factory=list)


SEVERITIES = ("critical", "error", "warning", "info")
