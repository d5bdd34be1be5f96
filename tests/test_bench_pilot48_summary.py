"""bench/pilot48_summary.py: the forty-eighth session's pilot rule (a variant passes only where, on every dataset,
its mean AUC is >= fused's + 0.01 and its mean macro-F1 >= fused's - 0.01)."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
p48 = pytest.importorskip("pilot48_summary")

HEADER = "budget\tseed\tmethod\tscore AUC\tscore macro-F1\tn pool\tn score\tepochs\twall s\n"


def _tsv(tmp_path, name, cells):
    """``cells``: {seed: {method: (auc, f1)}} in pilot48_distill.py's output format."""
    lines = [HEADER] + [f"5\t{s}\t{m}\t{a:.4f}\t{f:.4f}\t10\t10\t-\t0\n"
                        for s, ms in cells.items() for m, (a, f) in ms.items()]
    p = tmp_path / name
    p.write_text("".join(lines))
    return str(p)


def test_means_average_every_cell_of_every_file(tmp_path):
    a = _tsv(tmp_path, "a.tsv", {1: {"fused": (0.80, 0.60)}, 2: {"fused": (0.90, 0.70)}})
    b = _tsv(tmp_path, "b.tsv", {1: {"fused": (0.70, 0.50)}})
    mean, n = p48.means([a, b])
    assert n == 3
    assert mean["fused"] == pytest.approx((0.80, 0.60))


def test_means_refuse_methods_with_different_cell_counts(tmp_path):
    a = _tsv(tmp_path, "a.tsv", {1: {"fused": (0.8, 0.6), "x": (0.9, 0.6)}, 2: {"fused": (0.8, 0.6)}})
    with pytest.raises(SystemExit, match="different numbers of cells"):
        p48.means([a])


def test_rule_needs_both_margins_on_every_dataset(tmp_path, capsys):
    # "good": +0.02 AUC, -0.005 F1 on both; "f1bad": F1 -0.02 on one; "onlyone": +0.02 AUC on one dataset only;
    # "edge": exactly +0.01 AUC and -0.01 F1 (passes: the rule is >=)
    def cells(delta_one):
        return {1: {"topk": (0.5, 0.5), "fused": (0.80, 0.60), "good": (0.82, 0.595),
                    "f1bad": (0.83, 0.58 if delta_one else 0.60), "onlyone": (0.82 if delta_one else 0.80, 0.60),
                    "edge": (0.81, 0.59)}}

    pn = _tsv(tmp_path, "pn.tsv", cells(True))
    brain = _tsv(tmp_path, "brain.tsv", cells(False))
    p48.main([f"pn={pn}", f"brain={brain}"])
    out = capsys.readouterr().out
    assert out.strip().endswith("variants passing on every dataset: good, edge")
    verdicts = [line.split()[-1] for line in out.splitlines() if line.endswith(("pass", "fail"))]
    assert len(verdicts) == 8 and "topk" in out  # 4 variants x 2 datasets; the references get no verdict


def test_rule_argument_limits_the_variants_under_test(tmp_path, capsys):
    f = _tsv(tmp_path, "pn.tsv", {1: {"fused": (0.80, 0.60), "topk_pool": (0.9, 0.7), "fused_pool": (0.805, 0.6)}})
    p48.main(["rule=fused_pool", f"pn={f}"])
    out = capsys.readouterr().out
    assert out.strip().endswith("variants passing on every dataset: none")
    verdicts = [line.split()[0] for line in out.splitlines() if line.endswith(("pass", "fail"))]
    assert verdicts == ["fused_pool"]  # topk_pool is printed without a verdict
