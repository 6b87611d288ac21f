"""DNS record resolves (and, if given, to the expected value). With a `nameserver` the
query goes straight to it over UDP; otherwise through the system's resolver."""

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from monitoring.checks import Deadline, Outcome

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "PTR", "SOA")


def _text(rdata) -> str:
    value = rdata.to_text()
    if rdata.rdtype == dns.rdatatype.TXT:
        value = b"".join(rdata.strings).decode("utf-8", "replace")
    return value.rstrip(".") if rdata.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.PTR) else value


def check(config: dict, deadline: Deadline) -> Outcome:
    name, rtype = config["name"], config.get("record_type", "A")
    expected = (config.get("expected") or "").strip()
    evidence = {"name": name, "record_type": rtype}
    try:
        if config.get("nameserver"):
            query = dns.message.make_query(name, rtype)
            response = dns.query.udp(query, config["nameserver"], port=int(config.get("port") or 53),
                                     timeout=deadline.remaining())
            if response.rcode() != dns.rcode.NOERROR:
                rcode = dns.rcode.to_text(response.rcode())
                return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=f"{name} {rtype}: {rcode}",
                               evidence={**evidence, "rcode": rcode})
            answers = [_text(r) for rrset in response.answer if rrset.rdtype == dns.rdatatype.from_text(rtype)
                       for r in rrset]
        else:
            resolver = dns.resolver.Resolver()
            answers = [_text(r) for r in resolver.resolve(name, rtype, lifetime=deadline.remaining())]
    except dns.exception.Timeout:
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=f"{name} {rtype}: no answer in time",
                       evidence=evidence)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers) as exc:
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=f"{name} {rtype}: {exc}"[:500],
                       evidence=evidence)
    evidence["answers"] = answers
    if not answers:
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(), message=f"{name} has no {rtype} record",
                       evidence=evidence)
    if expected and not any(a.lower() == expected.lower().rstrip(".") for a in answers):
        return Outcome(ok=False, latency_ms=deadline.elapsed_ms(),
                       message=f"{name} {rtype} is {', '.join(answers)[:200]}, expected {expected}", evidence=evidence)
    return Outcome(ok=True, latency_ms=deadline.elapsed_ms(), message=f"{name} {rtype} {', '.join(answers)[:200]}",
                   evidence=evidence)
