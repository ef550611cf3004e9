"""One base for the errors services raise when a request breaks one of their rules.

As in HackSoft's Styleguide-Example (`core/exceptions.py`): a service raises an `ApplicationError`
subclass with a message written for the person who asked; the API's exception handler turns any of
them into a 400 with that message, pages show it as a form error. Nothing here imports an app, so
the site package never needs to know which app raised what.
"""
from __future__ import annotations


class ApplicationError(Exception):
    """A request the domain refuses, with a message a person can act on. `extra` carries fields the
    API may return beside `detail` (for example which field was wrong)."""

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
