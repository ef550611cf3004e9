"""Signals other apps listen to (the webhooks app subscribes to `analysis_finished`)."""
from django.dispatch import Signal

# Sent after the transaction commits, when an analysis ends `succeeded` or `failed`
# (not when a person cancels it). kwargs: sender=Analysis, analysis=<Analysis>.
analysis_finished = Signal()
