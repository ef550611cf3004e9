"""What this CPU can do natively: bf16 is only worth using where the hardware computes it."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The feature flags of the first CPU in /proc/cpuinfo (empty where there is no such file)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def available_cpus() -> int:
    """The cores this process may run on (a container's or `taskset`'s limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True where bf16 matrix maths runs in hardware; elsewhere TensorFlow emulates it, which is
    slower than float32 (14x slower in training on an AVX2-only CPU)."""
    return bool((cpu_flags() if flags is None else flags) & NATIVE_BF16_FLAGS)


def resolve_precision(requested: str, flags: frozenset[str] | None = None) -> str:
    """'auto' becomes bfloat16 on CPUs with native bf16 and float32 elsewhere; other values pass."""
    if requested == "auto":
        return "bfloat16" if has_native_bf16(flags) else "float32"
    if requested not in ("float32", "bfloat16"):
        from .errors import ConfigurationError
        raise ConfigurationError(f"Unknown classifier precision {requested!r}; use float32, bfloat16 or auto")
    return requested
