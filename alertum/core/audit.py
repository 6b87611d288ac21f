"""Append to and verify the audit trail."""

from django.db import transaction

from alertum.core.hashchain import GENESIS
from alertum.core.models import AuditEntry, AuditHead


def record(action: str, obj=None, *, actor=None, source: str, changes: dict | None = None,
           ip_address: str | None = None, object_type: str | None = None, object_repr: str | None = None):
    """Append one audit entry. Locks the chain head (AuditHead) for the length of the
    caller's transaction; call it inside the action's transaction, last."""
    with transaction.atomic():
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            head, _ = AuditHead.objects.get_or_create(pk=1, defaults={"last_hash": GENESIS})
            head = AuditHead.objects.select_for_update().get(pk=1)
        entry = AuditEntry(
            seq=head.last_seq + 1,
            actor=actor if actor is not None and actor.pk else None,
            actor_repr=(actor.get_username() if actor is not None and actor.pk else "system"),
            action=action,
            object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
            object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
            object_repr=(object_repr if object_repr is not None else str(obj) if obj is not None else "")[:200],
            changes=changes or {},
            ip_address=ip_address,
            source=source,
            prev_hash=head.last_hash,
        )
        entry.hash = entry.compute_hash()
        entry.save()
        AuditHead.objects.filter(pk=1).update(last_seq=entry.seq, last_hash=entry.hash)
        return entry


def verify_chain() -> AuditEntry | None:
    """Return the first entry whose hash or link does not hold, or None if the chain is intact."""
    prev = GENESIS
    expected_seq = 1
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=2000):
        if entry.seq != expected_seq or entry.prev_hash != prev or entry.compute_hash() != entry.hash:
            return entry
        prev = entry.hash
        expected_seq += 1
    return None


def model_changes(instance, fields, before: dict | None) -> dict:
    """{field: [old, new]} for the fields that differ; `before` None means created."""
    after = {f: _plain(getattr(instance, f)) for f in fields}
    if before is None:
        return {f: [None, v] for f, v in after.items()}
    return {f: [before.get(f), v] for f, v in after.items() if before.get(f) != v}


def snapshot(instance, fields) -> dict:
    return {f: _plain(getattr(instance, f)) for f in fields}


def _plain(value):
    if hasattr(value, "pk"):
        return value.pk
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
