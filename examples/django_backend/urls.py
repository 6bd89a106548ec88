"""HTTP routes, under /api/v1/projects/projects/{project_id}/ with Django's trailing slashes."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("api/v1/projects/projects/<str:project_id>/execute-stage/", views.execute_stage),
    path("api/v1/projects/projects/<str:project_id>/task-status/", views.task_status),
    path("api/v1/projects/projects/<str:project_id>/rewrite_stream/", views.rewrite_stream),
]

handler404 = "examples.django_backend.views.not_found"
handler500 = "examples.django_backend.views.server_error"
