"""The README's commands for reproducing the shipped default model really describe it: parsed by the
same argument parsers, they give the training configuration recorded in the model's metadata."""
from __future__ import annotations

import json
import re
import shlex

import pytest

from ml.engine.training import parse_config
from tests.conftest import ROOT

META = json.loads((ROOT / "ml" / "default_model" / "emo7ion-fer2013-v1.json").read_text())
RECIPE = ("preset", "epochs", "batch_size", "learning_rate", "warmup_epochs", "weight_decay", "label_smoothing",
          "augmentation", "class_weighting", "patience", "seed", "mixed_precision")


def _readme_command(prefix: str, preset: str = "vgg-s", version: str | None = None) -> list[str]:
    """The README's reproduction command starting with `prefix` for the `preset` network (the one that
    names --val-data, and `--version version` when given: the README also plans a v2 student on the same
    network), with its continuation lines, as arguments."""
    text = (ROOT / "README.md").read_text()
    commands = [m.group(0).replace("\\\n", " ")
                for m in re.finditer(re.escape(prefix) + r"(?:[^\n]*\\\n)*[^\n]*", text)]
    commands = [c for c in commands if "--val-data" in c and f"--preset {preset} " in c
                and (version is None or re.search(rf"--version {re.escape(version)}(\s|$)", c))]
    assert len(commands) == 1, f"expected one `{prefix}` {preset} command in the README, found {len(commands)}"
    return shlex.split(commands[0], comments=True)[len(shlex.split(prefix)):]


def test_the_engine_command_in_the_readme_gives_the_shipped_models_recipe():
    config = parse_config(_readme_command("python -m ml.engine.training ", version=META["version"])).to_json()
    recorded = META["training"]["config"]
    assert {k: config[k] for k in RECIPE} == {k: recorded[k] for k in RECIPE}
    assert config["version"] == META["version"] and config["dataset_name"] == META["training"]["dataset_name"]
    assert config["train_data"] == recorded["train_data"] and config["val_data"] == recorded["val_data"]


def test_the_train_model_command_in_the_readme_gives_the_shipped_models_recipe():
    from ml.management.commands.train_model import Command
    parser = Command().create_parser("manage.py", "train_model")
    options = vars(parser.parse_args(_readme_command("python manage.py train_model ")))
    recorded = META["training"]["config"]
    assert {k: options[k] for k in RECIPE} == {k: recorded[k] for k in RECIPE}
    assert options["val_data"] == recorded["val_data"]


CHECKPOINTS = sorted((ROOT / "ml" / "checkpoints").glob("*/checkpoint/state.json")) or [
    pytest.param(None, marks=pytest.mark.skip(reason="no run is paused between sessions: no checkpoint is committed"))]
CANDIDATES = sorted((ROOT / "ml" / "candidates").glob("*/*.json"))


@pytest.mark.parametrize("state_path", CHECKPOINTS, ids=lambda p: p.parent.parent.name if p else "none")
def test_the_readme_command_of_each_committed_checkpoint_is_the_run_it_continues(state_path):
    """Runs train across sessions: the README's command with the checkpoint's --version must resume the
    committed checkpoint, not start another run (a checkpoint resumes only a run with the same recipe)."""
    from ml.engine.training import same_run
    version = state_path.parent.parent.name
    saved = json.loads(state_path.read_text())["config"]
    config = parse_config(_readme_command("python -m ml.engine.training ", preset=saved["preset"], version=version))
    assert config.output_dir == f"ml/checkpoints/{version}"
    assert same_run(saved, config)


@pytest.mark.parametrize("meta_path", CANDIDATES, ids=lambda p: p.stem)
def test_the_readme_command_of_each_kept_candidate_gives_its_recipe(meta_path, monkeypatch):
    from ml.engine import cpu, training
    meta = json.loads(meta_path.read_text())
    recorded = meta["training"]["config"]
    # `--mixed-precision auto` means bf16 where the CPU has it natively: parse the command as the CPU that
    # trained the candidate (its flags are in the metadata) did, not as the one running this test.
    trained_on = frozenset(meta["training"]["cpu_flags"])
    monkeypatch.setattr(training, "has_native_bf16", lambda: cpu.has_native_bf16(trained_on))
    config = parse_config(_readme_command("python -m ml.engine.training ", preset=recorded["preset"],
                                          version=meta["version"])).to_json()
    assert {k: config[k] for k in RECIPE} == {k: recorded[k] for k in RECIPE}
    assert config["swa_epochs"] == recorded["swa_epochs"] and config["crop_size"] == recorded["crop_size"]
