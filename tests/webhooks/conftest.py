"""The webhooks app's tests drive it through the API, so they share the API tests' world and receiver."""
from tests.api.conftest import (fresh_throttle_counters, local_webhook_receivers, media_root,  # noqa: F401
                                receiver, world)
