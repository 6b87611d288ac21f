from django.urls import path

from monitoring.heartbeats import pages

app_name = "heartbeats"
urlpatterns = [
    path("", pages.heartbeat_list, name="list"),
    path("new/", pages.create, name="create"),
    path("<int:pk>/edit/", pages.edit, name="edit"),
    path("<int:pk>/pause/", pages.pause, name="pause"),
    path("<int:pk>/resume/", pages.resume, name="resume"),
    path("keys/new/", pages.key_create, name="key-create"),
    path("keys/<int:pk>/delete/", pages.key_delete, name="key-delete"),
]
