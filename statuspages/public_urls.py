"""/status/<slug>/…: the public doors of each page (statuspages.public)."""

from django.urls import include, path

from statuspages._public_routes import routes

app_name = "status"
urlpatterns = [path("<slug:slug>/", include(routes()))]
