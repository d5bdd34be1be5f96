"""bench/paired_methods.py: --run-seeds (keeping only some head seeds of some run directories) and the reference
side's runs."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
pm = pytest.importorskip("paired_methods")


def _cells():
    return [{"run": r, "seed": s, "method": "small_cnn"} for r in ("early", "rerun0", "rerun2") for s in (0, 1, 2)
            if r == "early" or int(r[-1]) == s]


def test_restrict_keeps_named_seeds_of_named_runs_only():
    cells = _cells()
    kept = pm.restrict(cells, ["bench/runs/early=1"])  # a path is matched by its run directory's name
    assert sorted((c["run"], c["seed"]) for c in kept) == [("early", 1), ("rerun0", 0), ("rerun2", 2)]
    kept = pm.restrict(cells, ["early=0,2", "rerun2=1"])
    assert sorted((c["run"], c["seed"]) for c in kept) == [("early", 0), ("early", 2), ("rerun0", 0)]


@pytest.mark.parametrize("spec", ["early", "=1", "early="])
def test_restrict_rejects_malformed_specs(spec):
    with pytest.raises(SystemExit, match="RUN=SEED"):
        pm.restrict(_cells(), [spec])


def test_restrict_rejects_unknown_runs_unless_lenient():
    with pytest.raises(SystemExit, match="no cells at this budget.*typo"):
        pm.restrict(_cells(), ["typo=1"])
    assert len(pm.restrict(_cells(), ["typo=1"], strict=False)) == 5


def test_reference_runs_drops_runs_already_on_the_method_side(tmp_path):
    """The reference side reads --runs too; a run also named in --ref-runs (e.g. one run holding the ResNet-18 and the
    small CNN) must not be read a second time, however its path is spelled."""
    (tmp_path / "cnns").mkdir()
    runs = [str(tmp_path / "cnns"), str(tmp_path / "probes")]
    assert pm.reference_runs(runs, [str(tmp_path / "cnns") + "/", str(tmp_path / "rn")]) == [str(tmp_path / "rn")]
    assert pm.reference_runs(runs, [str(tmp_path / "rn"), str(tmp_path / "rn2")]) == [str(tmp_path / "rn"),
                                                                                    str(tmp_path / "rn2")]
