from django.urls import path

from incidents import views
from incidents.playbook import views as playbook_views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("new/", views.declare, name="declare"),
    path("<int:pk>/", views.workspace, name="workspace"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/status/", views.change_status, name="status"),
    path("<int:pk>/resolve/", views.resolve, name="resolve"),
    path("<int:pk>/reopen/", views.reopen, name="reopen"),
    path("<int:pk>/severity/", views.set_severity, name="severity"),
    path("<int:pk>/roles/", views.assign_role, name="role"),
    path("<int:pk>/team/", views.change_team, name="team"),
    path("<int:pk>/merge/", views.merge, name="merge"),
    path("<int:pk>/relate/", views.relate, name="relate"),
    path("<int:pk>/comments/", views.comment, name="comment"),
    path("<int:pk>/updates/", views.post_update, name="update"),
    path("<int:pk>/timeline/<int:seq>/pin/", views.pin, name="pin"),
    path("<int:pk>/checklist/<int:item_id>/", views.tick, name="tick"),
    path("<int:pk>/evidence/", views.upload_evidence, name="evidence-upload"),
    path("<int:pk>/evidence/<int:evidence_id>/", views.evidence_file, name="evidence"),
    path("<int:pk>/reminders/", playbook_views.reminders_panel, name="reminders"),
    path("<int:pk>/reminders/<int:reminder_id>/done/", playbook_views.mark_done, name="reminder-done"),
]
