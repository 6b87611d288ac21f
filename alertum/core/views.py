"""Personal settings pages: the profile (time zone) and API tokens. Thin over
alertum.core.actions, which audits every change."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from alertum.core import actions, audit
from alertum.core.errors import DomainError
from alertum.core.models import TIME_ZONE_NAMES, ApiToken, Door


class ProfileForm(forms.Form):
    time_zone = forms.ChoiceField(choices=[(name, name) for name in TIME_ZONE_NAMES],
                                  help_text="Times are shown in this zone on every page.")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)


def _ip(request):
    return request.META.get("REMOTE_ADDR")


def _errors(form) -> str:
    return "; ".join(f"{name.replace('_', ' ')}: {' '.join(errors)}" for name, errors in form.errors.items())


@login_required
def profile(request):
    user = request.user
    form = ProfileForm(request.POST or None, initial={"time_zone": user.time_zone})
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "settings/profile.html", {"form": form, "error": _errors(form)}, status=422)
        before = audit.snapshot(user, ["time_zone"])
        user.time_zone = form.cleaned_data["time_zone"]
        actions.save_config(user, actor=user, source=Door.WEB, ip_address=_ip(request), before=before,
                            fields=["time_zone"])
        return redirect("settings:profile")
    return render(request, "settings/profile.html", {"form": form})


def _tokens_page(request, *, form=None, raw_token=None, created=None, error="", status=200):
    context = {
        "form": form or TokenForm(),
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at"),
        "raw_token": raw_token,
        "created": created,
        "error": error,
    }
    return render(request, "settings/tokens.html", context, status=status)


@login_required
def tokens(request):
    if request.method != "POST":
        return _tokens_page(request)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form=form, error=_errors(form), status=422)
    try:
        token, raw = actions.create_api_token(request.user, name=form.cleaned_data["name"],
                                              scope=form.cleaned_data["scope"], actor=request.user,
                                              source=Door.WEB, ip_address=_ip(request))
    except DomainError as exc:
        return _tokens_page(request, form=form, error=exc.message, status=exc.status_code)
    # The raw value is shown in this one answer and never again (only its hash is kept).
    response = _tokens_page(request, raw_token=raw, created=token, status=201)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_token(request, token_id: int):
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        return _tokens_page(request, error=f"you have no token {token_id}", status=404)
    actions.revoke_api_token(token, actor=request.user, source=Door.WEB, ip_address=_ip(request))
    return redirect("settings:tokens")
