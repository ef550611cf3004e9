"""Reports: what a person reads about finished analyses (pages, charts, exports, key-moment thumbnails).

Reads what analysis finalize stored and never computes it again; the one write is the key-moment
thumbnails, rendered by the worker that finalizes (see receivers.py)."""
