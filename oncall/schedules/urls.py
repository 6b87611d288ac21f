"""Schedule pages under /oncall/schedules/ (mounted before oncall/ in alertum/urls.py)."""

from django.urls import path

from oncall.schedules import views

app_name = "schedules"
urlpatterns = [
    path("", views.schedule_list, name="list"),
    path("new/", views.schedule_create, name="create"),
    path("my-shifts/", views.my_shifts, name="my_shifts"),
    path("coverage/", views.coverage_report, name="coverage"),
    path("fatigue/", views.fatigue_report, name="fatigue"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar"),
    path("calendar-links/", views.calendar_links, name="calendar_links"),
    path("calendar-links/<int:pk>/revoke/", views.calendar_link_revoke, name="calendar_link_revoke"),
    path("fatigue-limits/<slug:team>/", views.fatigue_limits, name="fatigue_limits"),
    path("<slug:slug>/", views.schedule_detail, name="detail"),
    path("<slug:slug>/edit/", views.schedule_edit, name="edit"),
    path("<slug:slug>/delete/", views.schedule_delete, name="delete"),
    path("<slug:slug>/layers/new/", views.layer_edit, name="layer_create"),
    path("<slug:slug>/layers/preview/", views.layer_preview, name="layer_preview"),
    path("<slug:slug>/layers/<int:pk>/", views.layer_edit, name="layer_edit"),
    path("<slug:slug>/layers/<int:pk>/delete/", views.layer_delete, name="layer_delete"),
    path("<slug:slug>/overrides/new/", views.override_create, name="override_create"),
    path("<slug:slug>/overrides/<int:pk>/delete/", views.override_delete, name="override_delete"),
    path("<slug:slug>/handoff-notes/", views.handoff_note, name="handoff_note"),
]
