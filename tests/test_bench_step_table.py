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
