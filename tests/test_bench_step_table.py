"""bench/step_table.py: the summaries' cell reader (``seeds``: only those head seeds, forty-third session)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
st = pytest.importorskip("step_table")


def test_cells_keep_only_the_named_seeds_and_stats_formats_them(tmp_path):
    for s, (f1, auc) in {24: (0.5, 0.7), 25: (0.7, 0.9), 30: (0.1, 0.2)}.items():
        d = tmp_path / "run" / "budgets" / "b5" / f"seed{s}" / "m"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"f1": f1, "auc": auc}))
    run = str(tmp_path / "run")
    assert len(st.cells([run], "m", 5)) == 3
    c = st.cells([run], "m", 5, ["24", "25"])
    assert [x["f1"] for x in c] == [0.5, 0.7]
    assert st.stats(c) == "2\t0.600 +- 0.141\t0.800 +- 0.141"


def test_means_one_line_per_method_with_two_cells_or_more(tmp_path, monkeypatch):
    for run, s, f1 in (("a", 1, 0.5), ("a", 2, 0.7), ("b", 1, 0.9), ("b", 3, 0.3)):
        d = tmp_path / run / "budgets" / "b10" / f"seed{s}" / "m"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"f1": f1, "auc": f1}))
    monkeypatch.chdir(tmp_path)
    assert st.means(["a,b:m", "b:m", "a:other"], 10, ["1", "2"]) == [
        "m (a)\t3\t0.700 +- 0.200\t0.700 +- 0.200"]  # b alone has one cell of seeds 1-2; a has no "other"
    assert st.means(["b:m"], 10, tag="D2") == ["D2\tm (b)\t2\t0.600 +- 0.424\t0.600 +- 0.424"]
