from django.urls import path

from monitoring import views

app_name = "monitors"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("new/", views.create, name="create"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/pause/", views.pause, name="pause"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("badge/<str:token>.svg", views.badge_svg, name="badge"),
]
