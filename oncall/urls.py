from django.urls import path

from oncall import views

app_name = "oncall"

urlpatterns = [
    path("l/<str:token>/", views.page_link, name="page-link"),
]
