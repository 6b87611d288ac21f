"""/status-pages/…: the management pages (statuspages.views)."""

from django.urls import path

from statuspages import views

app_name = "statuspages"
urlpatterns = [
    path("", views.page_list, name="list"),
    path("new/", views.page_create, name="create"),
    path("audiences/", views.audiences, name="audiences"),
    path("<slug:slug>/", views.page_detail, name="detail"),
    path("<slug:slug>/edit/", views.page_edit, name="edit"),
    path("<slug:slug>/components/new/", views.component_edit, name="component-create"),
    path("<slug:slug>/components/<slug:code>/", views.component_edit, name="component"),
    path("<slug:slug>/components/<slug:code>/status", views.component_status, name="component-status"),
    path("<slug:slug>/components/<slug:code>/delete", views.component_delete, name="component-delete"),
    path("<slug:slug>/incidents/new/", views.incident_create, name="incident-create"),
    path("<slug:slug>/incidents/<slug:code>/", views.incident_detail, name="incident"),
    path("<slug:slug>/maintenance/new/", views.maintenance_create, name="maintenance-create"),
    path("<slug:slug>/maintenance/<slug:code>/", views.maintenance_detail, name="maintenance"),
    path("<slug:slug>/maintenance/<slug:code>/cancel", views.maintenance_cancel, name="maintenance-cancel"),
    path("<slug:slug>/subscribers/", views.subscribers, name="subscribers"),
    path("<slug:slug>/subscribers/<slug:code>/delete", views.subscriber_delete, name="subscriber-delete"),
    path("<slug:slug>/notices/<int:pk>/retry", views.notice_retry, name="notice-retry"),
    path("<slug:slug>/templates/", views.templates, name="templates"),
]
