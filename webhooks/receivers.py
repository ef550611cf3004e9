"""Signal receivers: analyses that finish become webhook deliveries."""
import logging

from . import services

logger = logging.getLogger(__name__)


def on_analysis_finished(sender, analysis, **kwargs):
    # The analysis has already been committed as finished; a broken webhook configuration must
    # never turn that into an error for the worker that finished it.
    try:
        services.webhook_events_for_analysis(analysis=analysis)
    except Exception:
        logger.exception("Could not queue webhooks for analysis %s", getattr(analysis, "pk", None))
