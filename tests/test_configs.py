"""Every example config in configs/ resolves (types, presets, cross-field checks) with `--dry-run`."""

from pathlib import Path

import pytest
import yaml

from medfx.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_example_configs():
    assert {p.name for p in CONFIGS} >= {"brain64.yaml", "pneumonia.yaml", "target.yaml", "paper3d_brats.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_config_dry_run(path, capsys):
    command = path.read_text().splitlines()[0].split()[2]  # first line: "# medfx <command> configs/x.yaml ..."
    argv = [command, str(path), "--dry-run"] + (["--from", "weights.pt"] if command == "finetune" else [])
    assert main(argv) == 0, capsys.readouterr().err
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["preset"] == yaml.safe_load(path.read_text())["preset"]
    assert resolved["run"]["name"] == yaml.safe_load(path.read_text())["run"]["name"]
