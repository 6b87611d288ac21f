"""The URLconf of a request that arrived on a page's custom domain (set per request by
statuspages.middleware): the page's public doors at the root, plus sign-in and static
files so that a login-protected page works there too."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from statuspages._public_routes import routes

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("", include((routes(), "status"))),
]
