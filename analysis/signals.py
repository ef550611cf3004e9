"""Signals other apps listen to, so this app never imports the apps above it.

- `analysis_finished`: sent after the transaction commits, when an analysis ends `succeeded` or
  `failed` (not when a person cancels it). kwargs: sender=Analysis, analysis=<Analysis>. The
  webhooks app subscribes.
- `analysis_results_stored`: sent by the worker that finalizes, inside finalize's transaction, once
  every result (observations, tracks, timeline buckets, summary) is written and just before the
  analysis is marked succeeded; so whatever another app derives from the results (the reports'
  key-moment thumbnails) exists by the time anyone sees `succeeded`. Receivers must not raise.
  kwargs: sender=Analysis, analysis=<Analysis>.
- `footage_file_deleted`: sent when retention (or a person) deleted a footage's raw file; whatever
  another app made from its frames (the reports' key-moment thumbnails) must go too.
  kwargs: sender=Footage, footage=<Footage>.
"""
from django.dispatch import Signal

analysis_finished = Signal()
analysis_results_stored = Signal()
footage_file_deleted = Signal()
