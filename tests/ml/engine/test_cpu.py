"""CPU features decide two defaults: oneDNN kernels are on for every x86 CPU (TensorFlow turns
them on only for AVX-512 VNNI/BF16 and AMX CPUs by itself), and bf16 is used only where it is native."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from ml.engine.cpu import cpu_flags, has_native_bf16, resolve_precision
from ml.engine.errors import ConfigurationError
from tests.conftest import ROOT

AVX2_ONLY = frozenset({"sse2", "avx", "avx2", "fma"})
WITH_BF16 = AVX2_ONLY | {"avx512f", "avx512_bf16"}
WITH_AMX = AVX2_ONLY | {"amx_tile", "amx_bf16"}


def test_auto_precision_is_bf16_only_where_the_cpu_computes_it():
    assert resolve_precision("auto", AVX2_ONLY) == "float32"
    assert resolve_precision("auto", WITH_BF16) == "bfloat16"
    assert resolve_precision("auto", WITH_AMX) == "bfloat16"
    assert not has_native_bf16(AVX2_ONLY) and has_native_bf16(WITH_BF16)


def test_explicit_precision_is_kept_and_unknown_ones_are_refused():
    assert resolve_precision("float32", WITH_BF16) == "float32"
    assert resolve_precision("bfloat16", AVX2_ONLY) == "bfloat16"  # the operator asked for it
    with pytest.raises(ConfigurationError, match="Unknown classifier precision 'fp8'"):
        resolve_precision("fp8", AVX2_ONLY)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not os.path.exists("/proc/cpuinfo"),
                    reason="reads x86 flags from Linux's /proc/cpuinfo")
def test_this_machines_flags_are_read():
    assert {"sse2", "avx"} <= cpu_flags()


def _onednn_enabled(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    code = ("import ml.engine.classifier\n"
            "from tensorflow.python.util import _pywrap_util_port as port\n"
            "print(port.IsMklEnabled())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="oneDNN is TensorFlow's x86 CPU backend")
def test_importing_the_engine_turns_onednn_on_unless_the_operator_turned_it_off():
    assert _onednn_enabled(None) == "True"
    assert _onednn_enabled("0") == "False"
