"""bench/yn_transfer_seeds.py: one comparison across DDPM seeds, read from per-seed paired_methods.py text files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
yts = pytest.importorskip("yn_transfer_seeds")


def _paired_file(tmp_path, name, f1, auc, f1ci=(-0.2, 0.3), aucci=(0.01, 0.2)):
    """A file in paired_methods.py's format: one known header (pool-target), one unknown header, one row under each."""
    text = (
        "# budget 5: pool arm (1600 + 100 steps) minus target arm (1700 steps), DDPM seed 9\n"
        f"5\tlinear_ks\t3 vs 3 cells\tF1 {f1:+.3f} [{f1ci[0]:+.3f}, {f1ci[1]:+.3f}]\t"
        f"AUC {auc:+.3f} [{aucci[0]:+.3f}, {aucci[1]:+.3f}]\n"
        "# budget 5: something this script does not collect\n"
        "5\tlinear_ks\t3 vs 3 cells\tF1 +0.900 [+0.800, +0.950]\tAUC +0.900 [+0.800, +0.950]\n"
    )
    p = tmp_path / name
    p.write_text(text)
    return p


def test_parse_keeps_only_rows_under_known_headers(tmp_path):
    out = yts.parse(_paired_file(tmp_path, "a.txt", 0.05, -0.02))
    assert list(out) == [("pool-target", "5", "linear_ks")]
    assert out[("pool-target", "5", "linear_ks")] == {"f1": 0.05, "f1lo": -0.2, "f1hi": 0.3,
                                                      "auc": -0.02, "auclo": 0.01, "auchi": 0.2}
    (tmp_path / "empty.txt").write_text("# budget 5: nothing known\n")
    with pytest.raises(SystemExit, match="empty.txt"):
        yts.parse(tmp_path / "empty.txt")


def test_summarise_t_interval_over_seeds_and_resolved_counts():
    rows = [{"f1": d, "f1lo": lo, "f1hi": hi} for d, lo, hi in [(0.1, 0.02, 0.2), (-0.05, -0.1, -0.01), (0.04, -0.03, 0.1)]]
    mean, lo, hi, up, down = yts.summarise(rows, "f1")
    d = np.array([0.1, -0.05, 0.04])
    half = 4.302652729911275 * d.std(ddof=1) / np.sqrt(3)  # t(0.975, 2), written out
    assert (mean, lo, hi) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half))
    assert (up, down) == (1, 1)
    one = yts.summarise(rows[:1], "f1")
    assert one[0] == pytest.approx(0.1) and one[1] is None and one[2] is None
    assert yts.mean_cell(*one[:3]) == "+0.100 [no interval: one seed]"


def test_one_seed_table_says_no_interval_instead_of_nan(tmp_path):
    p = _paired_file(tmp_path, "s0.txt", 0.05, -0.02)
    r = subprocess.run([sys.executable, str(BENCH / "yn_transfer_seeds.py"), "--seed", f"0={p}", "--comparisons",
                        "pool-target", "--budgets", "5", "--methods", "linear_ks"],
                       capture_output=True, text=True, check=True)
    assert "nan" not in r.stdout.lower()
    assert "| 5 | linear_ks | macro-F1 | +0.050 [-0.200, +0.300] | +0.050 [no interval: one seed] | 0/0 |" in r.stdout
    assert "| 5 | linear_ks | AUC | -0.020 [+0.010, +0.200] | -0.020 [no interval: one seed] | 1/0 |" in r.stdout
