from django.urls import path

from oncall import views

app_name = "oncall"

urlpatterns = [
    path("l/<str:token>/", views.page_link, name="page-link"),
    path("policies/", views.policies, name="policies"),
    path("policies/<slug:slug>/", views.policy, name="policy"),
    path("policies/<slug:slug>/preview/", views.policy_preview, name="policy-preview"),
    path("policies/<slug:slug>/<str:what>/", views.policy_edit, name="policy-edit"),
    path("policies/<slug:slug>/<str:what>/<int:pk>/", views.policy_edit, name="policy-edit-item"),
    path("me/", views.my_rules, name="my-rules"),
    path("channels/", views.channels, name="channels"),
    path("ownership/", views.ownership, name="ownership"),
    path("incidents/<int:pk>/", views.incident_escalation, name="incident-escalation"),
]
