"""WebSocket routes (the Channels counterpart of urls.py)."""

from __future__ import annotations

from django.urls import path, re_path

from .consumers import StageConsumer, UnknownChannel

websocket_urlpatterns = [
    path("ws/projects/<str:project_id>/stage/<str:stage_name>/", StageConsumer.as_asgi()),
    re_path(r"^.*$", UnknownChannel.as_asgi()),
]
