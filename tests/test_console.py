"""Console behaviour: progress bars in logs, stage headers, results table, --quiet."""

import io
import logging

from medfx.report.tables import format_results_table
from medfx.utils.progress import configure, progress_bar
from medfx.workflows.console import SeedETA, StageHeaders, fmt_s


def test_progress_bar_writes_plain_lines_when_not_a_tty():
    buf = io.StringIO()  # not a TTY, like a SLURM log
    bar = progress_bar(total=50, desc="fit", file=buf)
    for _ in range(50):
        bar.update(1)
    bar.close()
    text = buf.getvalue()
    assert "\r" not in text and text.endswith("\n")
    assert "50/50" in text.splitlines()[-1]  # the final state is kept, not cleared
    assert len(text.splitlines()) <= 3  # mininterval: a line per minute at most, plus start and end


def test_progress_bar_off_when_disabled_or_quiet():
    buf = io.StringIO()
    for b in (progress_bar(range(3), enabled=False, file=buf),):
        list(b)
    configure(enabled=False)
    try:
        list(progress_bar(range(3), file=buf))
    finally:
        configure(enabled=True)
    assert buf.getvalue() == ""


def test_stage_headers_and_eta(caplog):
    caplog.set_level(logging.INFO, logger="medfx")
    h = StageHeaders(["pretrain", "extract", "heads"], previous={"extract": 30.0, "heads": 90.0})
    h.start("extract", "feature bank")
    h.start("unknown")  # not planned: nothing
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["[2/3] extract: feature bank (elapsed 0s, ETA ~2m00s (times of the previous session))"]
    assert fmt_s(3725) == "1h02m" and fmt_s(None) == "?"
    eta = SeedETA([("cats", 0), ("cats", 1), ("resnet18", 0)])
    assert eta.remaining(0) is None
    eta.done("cats", 10.0)
    assert eta.remaining(1) == 20.0  # unknown methods use the mean of what ran


def test_results_table_shows_ci_and_paired_difference():
    results = {"methods": {"cats": {"seeds": {"0": {}, "1": {}}, "summary": {"auc": [0.91, 0.01], "bacc": [0.8, 0.02]}},
                           "resnet18": {"seeds": {"0": {}}, "summary": {"auc": [0.93, None], "bacc": [0.85, None]}}}}
    unc = {"reference": "resnet18", "n_test": 624,
           "ci": {"cats": {"auc": {"low": 0.89, "high": 0.93}}, "resnet18": {"auc": {"low": 0.91, "high": 0.95}}},
           "paired": {"cats": {"auc": {"diff": -0.02, "low": -0.035, "high": -0.004}}}}
    text = format_results_table(results, unc, metrics=("auc", "bacc"))
    assert "n = 624" in text
    assert "0.910 ± 0.010 [0.890, 0.930]" in text
    assert "0.930 [0.910, 0.950]" in text  # one seed: no ± 0.000
    assert "-0.020 [-0.035, -0.004]" in text and "(reference)" in text


def test_quiet_cli_keeps_the_console_to_warnings_and_the_log_file_complete(tmp_path, capsys):
    from conftest import TINY_UNET, make_npz

    from medfx.cli import main

    data = make_npz(tmp_path / "toy.npz")
    args = ["pretrain", f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=q", *TINY_UNET, "train.steps=2",
            "train.batch_size=4", "--quiet"]
    try:
        assert main(args) == 0
    finally:
        configure(enabled=True)  # never leak --quiet into other tests, even when this one fails
    err = capsys.readouterr().err
    assert "model:" not in err and "it/s" not in err and "%|" not in err  # no INFO lines, no bar
    assert "model:" in (tmp_path / "q" / "train.log").read_text()
    assert main([*args[:-1], "run.name=q2"]) == 0  # a later call without --quiet logs again (no leaked state)
    assert "model:" in capsys.readouterr().err


def test_forced_refreshes_do_not_flood_a_log():
    buf = io.StringIO()
    bar = progress_bar(total=200, desc="ddpm", file=buf)
    for i in range(200):
        bar.update(1)
        bar.set_postfix(loss=f"{i:.4f}")  # refresh=True on every step, as the training loop does
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and "200/200" in lines[-1] and "loss=199" in lines[-1]


def test_fit_line_of_heads_and_budget_cells():
    """The one-line result the heads stage and the budget stage print per trained model."""
    from types import SimpleNamespace

    from medfx.workflows.pipeline import fit_line

    fit = SimpleNamespace(best_epoch=5, history=[{}] * 5, stopped_early=False, wall_time_s=75.0)
    res = {"fit": fit, "metrics": {"auc": 0.8123, "bacc": 0.5, "confusion": [[4, 0], [4, 0]]}}
    line = fit_line(res, SimpleNamespace(epochs=5), "budgets ETA ~2m00s")
    assert line == ("test auc 0.812, bacc 0.500; best epoch 5/5 (= cap: may be under-trained), 5 epochs run; 1m15s; "
                    "budgets ETA ~2m00s; PREDICTS ONE CLASS ONLY")
    fit.best_epoch, fit.stopped_early = 2, True
    res["metrics"]["confusion"] = [[3, 1], [1, 3]]
    assert fit_line(res, SimpleNamespace(epochs=9), "x") == "test auc 0.812, bacc 0.500; best epoch 2/9, 5 epochs " \
        "run (stopped early); 1m15s; x"
