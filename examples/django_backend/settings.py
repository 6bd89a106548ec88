"""Django settings: no database, no templates; Channels over channels_redis, Celery over Redis.

Everything comes from the environment the launcher (`python -m examples.django_backend`) sets:
STAGECHECK_EXAMPLE_REDIS (broker, result backend, channel layer and W5 snapshots: one Redis),
STAGECHECK_EXAMPLE_LEGACY_PHASE (compat|removed) and STAGECHECK_EXAMPLE_BREAK (breaks.py).
"""

from __future__ import annotations

import os

from . import breaks

REDIS_URL = os.environ.get("STAGECHECK_EXAMPLE_REDIS", "redis://127.0.0.1:6379/0")
LEGACY_PHASE = os.environ.get("STAGECHECK_EXAMPLE_LEGACY_PHASE", "compat")
BREAKS = breaks.active()

SECRET_KEY = "stagecheck-example-not-secret"  # noqa: S105 (an example with no sessions or auth)
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "examples.django_backend.urls"
ASGI_APPLICATION = "examples.django_backend.asgi.application"
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, dict[str, str]] = {}
# The views read the body themselves and answer 413 over 1 MiB (section 1) with an error body.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware"] if "gzip" in BREAKS else []
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # 4xx answers are the contract at work (E4, T2 ...), not warnings worth a line each
    # channels_redis says at INFO when a group message found a channel full and was dropped
    "loggers": {"django.request": {"level": "ERROR"}, "channels_redis": {"level": "INFO"}},
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            # Past `capacity` channels_redis drops messages without an error: in Redis, the web
            # process's queue (logged at INFO), and in the web process, each socket's buffer (not
            # logged). Settable, to show what the channel-fanout breakage loses (README).
            "capacity": int(os.environ.get("STAGECHECK_EXAMPLE_LAYER_CAPACITY", "1000")),
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_TRACK_STARTED = True  # task-status says STARTED once a worker has the task
CELERY_RESULT_EXPIRES = 3600
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

HEARTBEAT_S = 15.0  # an idle socket gets {"type": "heartbeat", "ts"} this often (optional in the protocol)
ENDED_RETENTION_S = 60  # an ended task's terminal is replayed to late subscribers this long (W5)
ISSUED_RETENTION_S = 3600  # task-status knows an issued id this long (T2: unknown ids are 404)
