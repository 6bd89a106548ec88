"""The Celery application: configured from Django's settings (CELERY_*), tasks from tasks.py.

The worker is started by the launcher as
`python -m celery -A examples.django_backend.celery_app worker --pool threads ...`.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_backend.settings")

import django

django.setup()

app = Celery("stagecheck_example")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ("examples.django_backend.tasks",)

READY_KEY = "example:worker-ready:{name}"


@worker_ready.connect  # type: ignore[untyped-decorator]
def _announce(sender: object = None, **kwargs: object) -> None:
    """Tell the launcher (which polls Redis) that this worker consumes its queue."""
    name = os.environ.get("STAGECHECK_EXAMPLE_WORKER_NAME")
    if name:
        from .state import sync_client

        sync_client().set(READY_KEY.format(name=name), str(os.getpid()), ex=3600)
