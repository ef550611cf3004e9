"""The layers in `.importlinter` hold (import-linter, run as `make test` runs it), and the contract is not
a check that cannot fail: the same contracts on a copy of the code with one forbidden import break."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("accounts", "analysis", "emo7ion_site", "live", "ml", "reports", "webhooks")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(lint), "--config", str(root / ".importlinter"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_code_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


@pytest.fixture
def code_copy(tmp_path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.keras", "*.npz", "*.onnx", "static", "checkpoints",
                                    "default_model")
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


@pytest.mark.parametrize("module, line, contract", [
    ("ml/engine/forbidden_probe.py", "from django.conf import settings\n", "The ML engine is plain Python"),
    ("analysis/forbidden_probe.py", "import reports.selectors\n", "Apps are layered"),
    ("ml/forbidden_probe.py", "from analysis import models\n", "Apps are layered"),
    ("ml/services/forbidden_probe.py", "from ml import tasks\n", "Services never import their own app's tasks"),
    ("emo7ion_site/core/forbidden_probe.py", "import accounts.models\n", "The site's shared core imports no app"),
])
def test_a_forbidden_import_breaks_the_contract(code_copy, module, line, contract):
    (code_copy / module).write_text(line)
    result = lint_imports(code_copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and "forbidden_probe" in broken, result.stdout[-3000:]
