"""The P1–P4 matrix: impact x service criticality (x users affected) -> severity."""

from incidents.models import Impact, Severity, SeverityRule

# Used when the rule table has no matching cell (and to seed it: migration 0003).
DEFAULT_MATRIX = {
    Impact.OUTAGE: {1: Severity.P1, 2: Severity.P1, 3: Severity.P2, 4: Severity.P3},
    Impact.PARTIAL: {1: Severity.P1, 2: Severity.P2, 3: Severity.P3, 4: Severity.P3},
    Impact.DEGRADED: {1: Severity.P2, 2: Severity.P3, 3: Severity.P3, 4: Severity.P4},
    Impact.COSMETIC: {1: Severity.P4, 2: Severity.P4, 3: Severity.P4, 4: Severity.P4},
}
NO_SERVICE_TIER = 3  # an incident with no affected service is judged as tier 3


def compute_severity(impact: str, users_affected: str, tiers: list[int]) -> tuple[str, str]:
    """Return (severity, reason) for the impact over the affected services' tiers."""
    rules = list(SeverityRule.objects.filter(impact=impact))
    best = None
    for tier in tiers or [NO_SERVICE_TIER]:
        candidates = [r for r in rules if r.tier == tier and r.users_affected in ("", users_affected)]
        candidates.sort(key=lambda r: r.users_affected == "")  # specific first
        if candidates:
            sev, why = candidates[0].severity, f"rule: {candidates[0]}"
        else:
            sev = DEFAULT_MATRIX[impact][tier]
            why = f"default matrix: {Impact(impact).label.lower()} of a tier-{tier} service"
        if best is None or sev < best[0]:  # "P1" < "P2": lower is more severe
            best = (sev, why)
    return best
