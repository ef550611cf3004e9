"""S3 client settings: retries with backoff for every call the storage backend makes."""
from botocore.config import Config

RETRY_MODES = ("standard", "adaptive", "legacy")


def s3_client_config(*, signature_version: str, addressing_style: str, retry_mode: str, max_attempts: int,
                     connect_timeout: float, read_timeout: float) -> Config:
    """botocore's Config for django-storages' S3 client. Its retry modes retry throttling, 5xx answers and
    dropped connections with exponential backoff and jitter ("standard"; "adaptive" also slows the
    client down while S3 throttles); `max_attempts` counts the first try."""
    if retry_mode not in RETRY_MODES:
        raise ValueError(f"AWS_S3_RETRY_MODE must be one of {', '.join(RETRY_MODES)}, not {retry_mode!r}")
    return Config(
        signature_version=signature_version,
        s3={"addressing_style": addressing_style},
        retries={"mode": retry_mode, "total_max_attempts": max(1, max_attempts)},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
