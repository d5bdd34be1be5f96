"""bench/same_subsets.py: the summaries' printed check that a run's label-budget subsets equal a reference run's."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
ss = pytest.importorskip("same_subsets")

REF = {"rule": "validation: the same per-class budget", "test_ids": ["t0", "t1"],
       "seeds": {"0": {"5": {"train_ids": ["a", "b"], "val_ids": ["v"]},
                       "10": {"train_ids": ["a", "b", "e", "f"], "val_ids": ["v", "x"]}},
                 "1": {"5": {"train_ids": ["c", "d"], "val_ids": ["w"]},
                       "10": {"train_ids": ["c", "d", "g", "h"], "val_ids": ["w", "y"]}}}}


def _run(tmp_path, name, sub):
    d = tmp_path / name / "budgets"
    d.mkdir(parents=True)
    (d / "subsets.json").write_text(json.dumps(sub))
    return str(tmp_path / name)


def _changed(path, value):
    sub = json.loads(json.dumps(REF))
    *head, last = path
    node = sub
    for k in head:
        node = node[k]
    node[last] = value
    return sub


def test_prints_identical_different_and_skips_runs_without_subsets(tmp_path, capsys):
    ref = _run(tmp_path, "ref", REF)
    runs = [_run(tmp_path, "same", REF),
            _run(tmp_path, "one_seed", {**REF, "seeds": {"1": REF["seeds"]["1"]}}),  # e.g. one ResNet-18 3D run per seed
            _run(tmp_path, "train", _changed(["seeds", "0", "5", "train_ids"], ["a", "x"])),
            _run(tmp_path, "val", _changed(["seeds", "1", "5", "val_ids"], ["x"])),
            _run(tmp_path, "test", _changed(["test_ids"], ["t0"])),
            _run(tmp_path, "rule", _changed(["rule"], "validation: the full split")),
            _run(tmp_path, "extra_seed", _changed(["seeds", "2"], REF["seeds"]["0"])),
            # a CNN run at one budget only (thirty-ninth session: it printed DIFFERENT before)
            _run(tmp_path, "one_budget", {**REF, "seeds": {k: {"10": v["10"]} for k, v in REF["seeds"].items()}}),
            _run(tmp_path, "one_budget_changed", {**REF, "seeds": {"0": {"10": REF["seeds"]["1"]["10"]}}}),
            _run(tmp_path, "extra_budget", _changed(["seeds", "0", "25"], REF["seeds"]["0"]["10"])),
            str(tmp_path / "unfinished")]
    ss.main(["--list-seeds", ref, *runs])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "head seeds: ['0', '1']"
    verdicts = {Path(line.split()[0]).name: line.split()[1] for line in lines[1:]}
    assert verdicts == {"same": "identical", "one_seed": "identical", "train": "DIFFERENT", "val": "DIFFERENT",
                        "test": "DIFFERENT", "rule": "DIFFERENT", "extra_seed": "DIFFERENT",
                        "one_budget": "identical", "one_budget_changed": "DIFFERENT", "extra_budget": "DIFFERENT"}


def test_usage_error_without_a_run():
    with pytest.raises(SystemExit, match="usage"):
        ss.main(["only_ref"])


def test_shared_compares_only_the_cells_both_have(tmp_path, capsys):
    """--shared (forty-third session): extra head seeds or budgets of a run are not compared; shared cells still are."""
    ref = _run(tmp_path, "ref", REF)
    runs = [_run(tmp_path, "extra_seed", _changed(["seeds", "2"], REF["seeds"]["0"])),
            _run(tmp_path, "extra_budget", _changed(["seeds", "0", "25"], REF["seeds"]["0"]["10"])),
            _run(tmp_path, "train", _changed(["seeds", "0", "5", "train_ids"], ["a", "x"])),
            _run(tmp_path, "test", _changed(["test_ids"], ["t0"]))]
    ss.main(["--shared", ref, *runs])
    verdicts = {Path(line.split()[0]).name: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert verdicts == {"extra_seed": "identical", "extra_budget": "identical", "train": "DIFFERENT",
                        "test": "DIFFERENT"}
