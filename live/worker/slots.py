"""Newest frame wins: one slot per session, never a queue.

When the worker is slower than the frames arrive, a new frame replaces the one still waiting for
the same session; the replaced frame is counted as dropped. Sessions take turns (the one that has
waited longest goes first), so a fast camera cannot starve a slow one. Memory is bounded by the
number of sessions, whatever the frame rate.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable


class LatestFrameSlots:
    def __init__(self):
        self._slots: OrderedDict[Hashable, Any] = OrderedDict()
        self._ready = threading.Condition()
        self._received: dict[Hashable, int] = {}
        self._dropped: dict[Hashable, int] = {}

    def put(self, key: Hashable, item: Any) -> bool:
        """Offer `item` as `key`'s newest frame. Returns True when it replaced an older waiting one."""
        with self._ready:
            replaced = key in self._slots
            self._received[key] = self._received.get(key, 0) + 1
            if replaced:
                self._dropped[key] = self._dropped.get(key, 0) + 1
            self._slots[key] = item  # a waiting session keeps its place in the turn order
            self._ready.notify()
            return replaced

    def take(self, timeout: float | None = None) -> tuple[Hashable, Any] | None:
        """The next session's newest frame, waiting up to `timeout` seconds; None when none came."""
        with self._ready:
            if not self._slots and not self._ready.wait_for(lambda: bool(self._slots), timeout):
                return None
            return self._slots.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._ready:
            self._slots.pop(key, None)
            self._received.pop(key, None)
            self._dropped.pop(key, None)

    def take_counts(self, key: Hashable) -> tuple[int, int]:
        """(frames offered, frames dropped) for `key` since the last call."""
        with self._ready:
            return self._received.pop(key, 0), self._dropped.pop(key, 0)

    def __len__(self) -> int:
        with self._ready:
            return len(self._slots)
