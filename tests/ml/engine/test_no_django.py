"""ml.engine is plain Python: importing every engine module must not import Django."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

ENGINE = ROOT / "ml" / "engine"


def test_engine_modules_do_not_import_django():
    modules = sorted(f"ml.engine.{m.name}" for m in pkgutil.iter_modules([str(ENGINE)]))
    assert {"ml.engine.video", "ml.engine.detectors", "ml.engine.faces", "ml.engine.tracker",
            "ml.engine.pipeline", "ml.engine.classifier"} <= set(modules)
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_engine_source_never_mentions_django_imports():
    offenders = [p.name for p in Path(ENGINE).glob("*.py")
                 if any(line.strip().startswith(("import django", "from django")) for line in p.read_text().splitlines())]
    assert offenders == []
