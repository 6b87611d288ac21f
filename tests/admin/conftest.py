"""Fixtures for the admin door: a signed-in global admin and one row of every model."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.forms import MultiWidget
from django.utils import timezone

from alertum.core.actions import create_api_token, save_config, schedule_maintenance
from alertum.core.models import Door, Team
from incidents import actions as incident_actions


@pytest.fixture
def root_client(client, cast):
    client.force_login(cast["root"])
    return client


@pytest.fixture
def rows(cast, teams, services):
    """One row of each model the admin shows, written through the actions."""
    window = schedule_maintenance(title="Database upgrade", starts_at=timezone.now() + dt.timedelta(days=1),
                                  ends_at=timezone.now() + dt.timedelta(days=1, hours=2),
                                  services=[services["checkout"]], actor=cast["root"], source=Door.CLI)
    token, _raw = create_api_token(cast["alice"], name="laptop", scope="read", actor=cast["alice"], source=Door.WEB)
    incident = incident_actions.declare_incident(title="Checkout errors", team=teams["payments"],
                                                 services=[services["checkout"]], actor=cast["alice"],
                                                 source=Door.WEB)
    incident_actions.add_comment(incident, body="Looking at the load balancer", actor=cast["bob"], source=Door.WEB)
    spare = save_config(Team(name="Spare", slug="spare"), actor=cast["root"], source=Door.CLI)
    group = save_config(Group(name="On-call leads"), actor=cast["root"], source=Door.CLI)
    return {"window": window, "token": token, "incident": incident, "spare_team": spare, "group": group}


def changeform_data(response) -> dict:
    """The POST body the admin change form in `response` would send unchanged: the main
    form and every inline formset, as a browser would submit them."""
    data = {}

    def put(name, widget, value):
        if isinstance(widget, MultiWidget):
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else str(part)
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif value is not None:
            data[name] = str(value)

    def add(form):
        for bound in form:
            if bound.field.disabled:
                continue
            put(bound.html_name, bound.field.widget, bound.value())
            if bound.field.show_hidden_initial:  # fields with callable defaults echo their initial value
                put(bound.html_initial_name, bound.field.hidden_widget(), bound.value())

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data
