"""Intake doors, mounted at /integrations/. Every pattern takes the path with or without a
trailing slash (pypd posts to ".../v2/enqueue/"): a POST must never be redirected."""

from django.urls import re_path

from incidents.intake import views

urlpatterns = [
    re_path(r"^pagerduty/v2/enqueue/?$", views.pagerduty_v2, name="intake-pagerduty-v2"),
    re_path(r"^pagerduty/v2/change/enqueue/?$", views.pagerduty_change, name="intake-pagerduty-change"),
    re_path(r"^pagerduty/generic/2010-04-15/create_event\.json/?$", views.pagerduty_v1, name="intake-pagerduty-v1"),
    re_path(r"^alertmanager(?:/(?P<key>[^/]+))?/?$", views.alertmanager_webhook, name="intake-alertmanager"),
    re_path(r"^grafana(?:/(?P<key>[^/]+))?/?$", views.grafana_webhook, name="intake-grafana"),
    re_path(r"^webhook(?:/(?P<key>[^/]+))?/?$", views.generic_webhook, name="intake-generic"),
]
