"""The alert pages and intake editors, mounted at /alerts/ (namespace "alerts")."""

from django.urls import path

from incidents.intake import pages

app_name = "alerts"

urlpatterns = [
    path("", pages.alert_list, name="list"),
    path("counts/", pages.alert_counts, name="counts"),
    path("<int:pk>/", pages.alert_detail, name="detail"),
    path("integrations/", pages.integration_list, name="integrations"),
    path("integrations/new/", pages.integration_create, name="integration-create"),
    path("integrations/<int:pk>/", pages.integration_detail, name="integration"),
    path("integrations/<int:pk>/edit/", pages.integration_edit, name="integration-edit"),
    path("integrations/<int:pk>/rotate-key/", pages.integration_rotate, name="integration-rotate"),
    path("integrations/<int:pk>/delete/", pages.integration_delete, name="integration-delete"),
    path("integrations/<int:pk>/raw-events/<int:raw_pk>/replay/", pages.raw_event_replay, name="raw-event-replay"),
    path("silences/", pages.silence_list, name="silences"),
    path("silences/new/", pages.silence_create, name="silence-create"),
    path("silences/<int:pk>/expire/", pages.silence_expire, name="silence-expire"),
    path("rules/grouping/", pages.grouping_list, name="grouping"),
    path("rules/grouping/<slug:slug>/", pages.grouping_edit, name="grouping-edit"),
    path("rules/grouping/<slug:slug>/delete/", pages.grouping_delete, name="grouping-delete"),
]

for kind in ("inhibition", "severity", "routing"):
    urlpatterns += [
        path(f"rules/{kind}/", pages.rule_list, {"kind": kind}, name=f"rules-{kind}"),
        path(f"rules/{kind}/new/", pages.rule_create, {"kind": kind}, name=f"rules-{kind}-create"),
        path(f"rules/{kind}/<int:pk>/", pages.rule_edit, {"kind": kind}, name=f"rules-{kind}-edit"),
        path(f"rules/{kind}/<int:pk>/delete/", pages.rule_delete, {"kind": kind}, name=f"rules-{kind}-delete"),
    ]
