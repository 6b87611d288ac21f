"""On-call pages: escalation policies and their editor, my contact methods and
notification rules, team channels, the ownership matrix, an incident's escalation, and
the signed acknowledge/resolve links from notifications.

Thin: forms shape input, `oncall.queries` decides what the viewer sees, `oncall.actions`
does every write and checks who may; a DomainError comes back as its status code with
its message.
"""


from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alertum.core.errors import DomainError, Forbidden, Invalid, NotFound
from alertum.core.models import Role, Service, Team
from alertum.core.pages import PageDoor
from alertum.core.pages import web_actor as _who
from alertum.core.permissions import is_admin, is_member_anywhere, teams_with_role
from incidents import queries as incident_queries
from incidents.models import Severity
from oncall import actions, links, queries
from oncall.engine import person_steps
from oncall.forms import (
    ChannelForm,
    ContactMethodForm,
    LevelForm,
    NotificationRuleForm,
    PolicyForm,
    ServicePolicyForm,
    TargetForm,
    VariantForm,
)
from oncall.models import (
    ContactMethod,
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    NotificationRule,
    SeverityVariant,
    Urgency,
)

_DOOR = PageDoor("oncall:policies", "Back to the escalation policies")
page_view = _DOOR.view
error_page = _DOOR.error


@require_http_methods(["GET", "POST"])
def page_link(request, token):
    """Acknowledge or resolve from a notification, without signing in. GET only shows
    what the link would do (mail and chat scanners open every link); POST does it."""
    try:
        claim = links.read_token(token)
        incident = actions.incident_for_link(claim)
    except DomainError as exc:
        return render(request, "oncall/page_link.html", {"error": exc.message}, status=exc.status_code)
    context = {"claim": claim, "incident": incident, "done": False}
    if request.method == "POST":
        try:
            context["result"] = actions.act_on_link(claim, ip_address=request.META.get("REMOTE_ADDR"))
            context["done"] = True
            incident.refresh_from_db()
        except DomainError as exc:
            context["error"] = exc.message
            return render(request, "oncall/page_link.html", context, status=exc.status_code)
    return render(request, "oncall/page_link.html", context)


# --- shared ------------------------------------------------------------------------------------

def _form_errors(form) -> str:
    return "; ".join(f"{name}: {' '.join(errs)}" if name != "__all__" else " ".join(errs)
                     for name, errs in form.errors.items())


def _admin_teams(user):
    return Team.objects.order_by("name") if is_admin(user) else Team.objects.filter(
        pk__in=teams_with_role(user, Role.ADMIN)).order_by("name")


# --- policies ------------------------------------------------------------------------------------

@page_view
@require_http_methods(["GET", "POST"])
def policies(request):
    """Every policy (members read them all); a new one for teams the viewer administers."""
    if not is_member_anywhere(request.user):
        raise Forbidden("you are not a member of any team")
    teams = _admin_teams(request.user)
    form = PolicyForm(request.POST or None, teams=teams)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                policy = actions.create_policy(**form.cleaned_data, **_who(request))
                return redirect("oncall:policy", slug=policy.slug)
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                status = exc.status_code
        else:
            status = 400
    return render(request, "oncall/policies.html", {"policies": queries.visible_policies(request.user),
                                                    "form": form, "may_create": teams.exists()}, status=status)


def _policy_context(request, policy, **extra) -> dict:
    policy = queries.visible_policies(request.user).get(pk=policy.pk)
    severity = request.GET.get("severity") if request.GET.get("severity") in Severity.values else "P1"
    return {"policy": policy, "may_edit": actions.may_configure_team(request.user, policy.team_id),
            "policy_form": PolicyForm(initial={f: getattr(policy, f) for f in actions.POLICY_FIELDS},
                                      teams=_admin_teams(request.user)),
            "level_form": LevelForm(), "target_form": TargetForm(policy=policy), "variant_form": VariantForm(),
            "preview": queries.preview(policy, severity), "severity": severity, "severities": Severity.values,
            "error": "", **extra}


def _policy(request, slug) -> EscalationPolicy:
    policy = queries.visible_policies(request.user).filter(slug=slug).first()
    if policy is None:
        raise NotFound(f"no escalation policy {slug!r}")
    return policy


@page_view
@require_GET
def policy(request, slug):
    """The editor: settings, levels and their targets, severity variants, and a preview of
    who would be paged when for a severity, if an incident triggered now."""
    return render(request, "oncall/policy.html", _policy_context(request, _policy(request, slug)))


@page_view
@require_GET
def policy_preview(request, slug):
    context = _policy_context(request, _policy(request, slug))
    return render(request, "oncall/_preview.html", context)


@page_view
@require_POST
def policy_edit(request, slug, what, pk=None):
    """Every change from the editor: one form per `what`; on a refusal the editor comes
    back with the message and the action's status code, nothing saved."""
    policy = _policy(request, slug)
    try:
        if what == "settings":
            form = PolicyForm(request.POST, teams=_admin_teams(request.user) | Team.objects.filter(pk=policy.team_id))
            _valid(form)
            policy = actions.update_policy(policy, **form.cleaned_data, **_who(request))
        elif what == "delete":
            actions.delete_policy(policy, **_who(request))
            return redirect("oncall:policies")
        elif what == "add-level":
            form = _valid(LevelForm(request.POST))
            actions.add_level(policy, **form.cleaned_data, **_who(request))
        elif what == "level":
            level = get_object_or_404(EscalationLevel, pk=pk, policy=policy)
            form = _valid(LevelForm(request.POST))
            actions.update_level(level, **form.cleaned_data, **_who(request))
        elif what == "delete-level":
            actions.delete_level(get_object_or_404(EscalationLevel, pk=pk, policy=policy), **_who(request))
        elif what == "add-target":
            level = get_object_or_404(EscalationLevel, pk=pk, policy=policy)
            form = _valid(TargetForm(request.POST, policy=policy))
            data = form.cleaned_data
            kind = data["kind"]
            actions.add_target(level, kind=kind, **{kind: data.get(kind)}, **_who(request))
        elif what == "delete-target":
            target = get_object_or_404(EscalationTarget.objects.select_related("level__policy"), pk=pk,
                                       level__policy=policy)
            actions.remove_target(target, **_who(request))
        elif what == "variant":
            form = _valid(VariantForm(request.POST))
            data = dict(form.cleaned_data)
            actions.set_variant(policy, data.pop("severity"), **data, **_who(request))
        elif what == "delete-variant":
            variant = get_object_or_404(SeverityVariant, pk=pk, policy=policy)
            actions.delete_variant(variant, **_who(request))
        else:
            raise NotFound(f"unknown change {what!r}")
    except DomainError as exc:
        context = _policy_context(request, policy, error=exc.message)
        return render(request, "oncall/policy.html", context, status=exc.status_code)
    messages.success(request, "Saved. Escalations already running keep the policy they started with.")
    return redirect("oncall:policy", slug=policy.slug)


def _valid(form):
    if not form.is_valid():
        raise Invalid(_form_errors(form))
    return form


# --- my notification rules -----------------------------------------------------------------------

@page_view
@require_http_methods(["GET", "POST"])
def my_rules(request):
    """My contact methods and notification rules (high and low urgency), and what a page
    to me would do."""
    user = request.user
    method_form, rule_form = ContactMethodForm(), NotificationRuleForm(user=user)
    error, status = "", 200
    if request.method == "POST":
        try:
            what = request.POST.get("what")
            if what == "add-method":
                method_form = ContactMethodForm(request.POST)
                data = _valid(method_form).cleaned_data
                actions.add_contact_method(user, **data, **_who(request))
            elif what == "delete-method":
                method = get_object_or_404(ContactMethod, pk=request.POST.get("pk"), user=user)
                actions.delete_contact_method(method, **_who(request))
            elif what == "add-rule":
                rule_form = NotificationRuleForm(request.POST, user=user)
                actions.add_notification_rule(user, **_valid(rule_form).cleaned_data, **_who(request))
            elif what == "delete-rule":
                rule = get_object_or_404(NotificationRule, pk=request.POST.get("pk"), user=user)
                actions.delete_notification_rule(rule, **_who(request))
            else:
                raise Invalid("unknown change")
            messages.success(request, "Saved.")
            return redirect("oncall:my-rules")
        except DomainError as exc:
            error, status = exc.message, exc.status_code
    kinds = dict(ContactMethod.Kind.choices)
    return render(request, "oncall/my_rules.html", {
        "methods": ContactMethod.objects.filter(user=user).order_by("kind", "id"),
        "rules": {u: NotificationRule.objects.filter(user=user, urgency=u).select_related("contact_method")
                  for u in Urgency.values},
        "steps": {u: [(d, kinds.get(k, k)) for d, k, _a in person_steps(user, u)] for u in Urgency.values},
        "method_form": method_form, "rule_form": rule_form, "error": error}, status=status)


# --- team channels ---------------------------------------------------------------------------------

@page_view
@require_http_methods(["GET", "POST"])
def channels(request):
    teams = _admin_teams(request.user)
    form = ChannelForm(request.POST or None, teams=teams)
    error, status = "", 200
    if request.method == "POST":
        try:
            if request.POST.get("what") == "delete":
                channel = get_object_or_404(queries.visible_channels(request.user), pk=request.POST.get("pk"))
                actions.delete_channel(channel, **_who(request))
            else:
                actions.create_channel(**_valid(form).cleaned_data, **_who(request))
            messages.success(request, "Saved.")
            return redirect("oncall:channels")
        except DomainError as exc:
            error, status = exc.message, exc.status_code
    rows = [(c, queries.may_see_channel_address(request.user, c)) for c in queries.visible_channels(request.user)]
    return render(request, "oncall/channels.html", {"rows": rows, "form": form, "may_create": teams.exists(),
                                                    "error": error}, status=status)


# --- ownership matrix ----------------------------------------------------------------------------

@page_view
@require_http_methods(["GET", "POST"])
def ownership(request):
    """Each service's primary and secondary responders (its default policy's first two
    levels); services without both are flagged. Team admins set the default here."""
    if not is_member_anywhere(request.user):
        raise Forbidden("you are not a member of any team")
    error, status = "", 200
    if request.method == "POST":
        service = get_object_or_404(Service, slug=request.POST.get("service"))
        form = ServicePolicyForm(request.POST)
        try:
            actions.assign_policy(service, _valid(form).cleaned_data["policy"], **_who(request))
            messages.success(request, f"Default escalation policy of {service} saved.")
            return redirect("oncall:ownership")
        except DomainError as exc:
            error, status = exc.message, exc.status_code
    rows = queries.ownership(request.user)
    admin_teams = set(teams_with_role(request.user, Role.ADMIN))
    return render(request, "oncall/ownership.html", {
        "rows": [(row, is_admin(request.user) or row.service.owner_team_id in admin_teams) for row in rows],
        "missing": sum(1 for row in rows if not row.complete), "policies": EscalationPolicy.objects.order_by("name"),
        "error": error}, status=status)


# --- an incident's escalation ----------------------------------------------------------------------

@page_view
@require_GET
def incident_escalation(request, pk: int):
    """The incident's escalation: policy snapshot, where it stands, every page and its
    outcome. Also served as a fragment (htmx) for the incident workspace."""
    incident = incident_queries.get_incident_for_user(request.user, pk)
    context = {"incident": incident, "escalation": queries.escalation_of(incident),
               "pages": queries.pages_of(incident)}
    template = "oncall/_incident_escalation.html" if request.htmx else "oncall/incident_escalation.html"
    return render(request, template, context)
