"""Walk the audit trail's hash chain and name the first entry that does not hold."""

from django.core.management.base import BaseCommand, CommandError

from alertum.core.audit import verify_chain
from alertum.core.models import AuditEntry, AuditHead


class Command(BaseCommand):
    help = ("Verify the audit trail's hash chain: prints 'audit trail intact: N entries' and exits 0, "
            "or names the first broken entry and exits 1.")

    def handle(self, *args, **options):
        # Read the head first: entries appended while we walk only extend the chain.
        head = AuditHead.objects.filter(pk=1).values_list("last_seq", "last_hash").first()
        broken = verify_chain()
        if broken is not None:
            if broken.compute_hash() != broken.hash:
                why = "its content does not match its hash (the entry was changed)"
            else:
                why = "it does not link to the entry before it (an earlier entry was changed or removed)"
            raise CommandError(
                f"audit trail broken at entry seq {broken.seq} ({broken.action} {broken.object_type} "
                f"#{broken.object_id} {broken.object_repr!r}): {why}"
            )
        last = AuditEntry.objects.order_by("-seq").values_list("seq", "hash").first()
        if head is not None and head[0] > 0 and (last is None or last[0] < head[0]):
            # The chain cannot show its own tail being cut off; the head row remembers it.
            raise CommandError(
                f"audit trail broken after entry seq {last[0] if last else 0}: the trail ends there but "
                f"{head[0]} entries were written (the last ones were removed)"
            )
        if head is not None and last is not None and last[0] == head[0] and last[1] != head[1]:
            raise CommandError(f"audit trail broken at entry seq {last[0]}: its hash differs from the recorded head")
        count = AuditEntry.objects.count()
        self.stdout.write(f"audit trail intact: {count} entries")
