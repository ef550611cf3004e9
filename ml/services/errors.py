"""The rules the ML services enforce, as errors: each message is written for the person who asked.
All are `ApplicationError`s, so the API answers them as a 400 with that message and pages show it."""
from emo7ion_site.core.exceptions import ApplicationError


class DatasetImportError(ApplicationError):
    """A dataset was refused; the message says why in words the uploader can act on."""


class PromotionRefused(ApplicationError):
    """A model version may not become (or return to being) the active one; the message says why."""


class JobRefused(ApplicationError):
    """A training run, evaluation or audit cannot start with these inputs; the message says why."""
