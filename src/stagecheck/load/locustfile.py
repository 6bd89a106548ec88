"""The locustfile of `stagecheck load`: `locust -f <this file> SseStreamUser|WsStreamUser`.

It only gathers the users and the hooks; `stagecheck load` runs it once per level, in
its own process (Locust patches the process with gevent on import).
"""

from stagecheck.load import locust_hooks  # noqa: F401  (registers the event hooks)
from stagecheck.load.locust_users import SseStreamUser, WsStreamUser

__all__ = ["SseStreamUser", "WsStreamUser"]
