"""Errors the engine raises. Each message is written for the person who will read it."""


class EngineError(Exception):
    """Base class: anything the engine refuses, with a human-readable reason."""


class UnknownDetectorError(EngineError, ValueError):
    pass


class ModelFileError(EngineError):
    """A model or detector file is missing, unreadable or not what its metadata says."""


class ImageReadError(EngineError):
    """A file is not an image OpenCV can decode."""


class VideoReadError(EngineError):
    """A file is not a video (or image) OpenCV can decode, or it is truncated/corrupt."""


class DatasetError(EngineError):
    """A dataset has the wrong format, unknown class names, unreadable images or no images."""


class ConfigurationError(EngineError, ValueError):
    """An option has a value the engine does not know."""
