"""One base for the errors services raise when a request breaks one of their rules.

As in HackSoft's Styleguide-Example (`core/exceptions.py`): a service raises an `ApplicationError`
subclass with a message written for the person who asked; the API's exception handler turns any of
them into a 400 with that message, pages show it as a form error. Nothing here imports an app, so
the site package never needs to know which app raised what.
"""
from __future__ import annotations


_rule_errors: list[type[Exception]] = []


def register_rule_errors(*types: type[Exception]) -> None:
    """Declare exception types from below the site (the plain-Python ML engine's `EngineError`) that
    also mean "a request broke a rule, here is why". An app registers its lower layer's types in its
    AppConfig.ready(), so the API's handler knows them without importing that layer."""
    for kind in types:
        if kind not in _rule_errors:
            _rule_errors.append(kind)


def rule_errors() -> tuple[type[Exception], ...]:
    """Every exception type the API answers with a 400 and the error's own message."""
    return (ApplicationError, *_rule_errors)


class ApplicationError(Exception):
    """A request the domain refuses, with a message a person can act on. `extra` carries fields the
    API may return beside `detail` (for example which field was wrong)."""

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
