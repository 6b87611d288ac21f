"""The hash chain shared by the audit trail and incident timelines: each entry stores
the hash of the previous one, so editing or removing an entry breaks the chain."""

import hashlib
import json
from datetime import datetime

GENESIS = "0" * 64


def entry_hash(prev_hash: str, fields: dict) -> str:
    def default(value):
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)

    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=default)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


class AppendOnlyQuerySet:
    """Mixin for querysets of append-only models: bulk update/delete refuse."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} is append-only")

    def delete(self):
        raise PermissionError(f"{self.model.__name__} is append-only")
