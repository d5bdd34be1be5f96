"""Sharded inference under torchrun: 2-3 ranks (gloo on CPU) give exactly what one process gives.

The ranks are forked from the test process with torchrun's environment variables (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT, ...), so they run the real command-line path (``init_distributed`` from the
environment) without paying for a fresh interpreter; a slow test launches the real ``torchrun``.
"""

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_npz
from test_generate import make_ckpt

from medfx.cli import main
from medfx.features.bank import FeatureBank
from medfx.metrics import FeatureStats, RandomConvDetector, compute_features, compute_stats
from medfx.utils.distributed import batch_ranges, rounds
from medfx.utils.runtime import DistInfo
from medfx.workflows.distributed import collective, follow, lead

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread_everywhere(monkeypatch):
    """Bitwise equality with one process holds for the same torch thread count: ``run.threads=auto`` gives one
    process all usable cores but each of N ranks 1/N of them, and another thread count changes the float reduction
    order of the CPU kernels. Pin 1 thread for the one-process reference and for the forked ranks (they inherit
    the environment), so the tests compare the rank split itself, whatever the machine's cores and load."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(fn, rank, world, port, out, args):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    code, text = 0, ""
    try:
        code = fn(rank, *args) or 0
    except BaseException:  # noqa: BLE001 - reported to the parent
        code, text = 1, traceback.format_exc()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    Path(out).write_text(json.dumps({"code": code, "error": text}))
    os._exit(0)


def run_ranks(fn, world, tmp_path, *args, timeout=120):
    """Run ``fn(rank, *args)`` in ``world`` forked processes set up as torchrun would; returns
    ``[{"code", "error"}]`` per rank."""
    ctx = multiprocessing.get_context("fork")
    port = _free_port()
    outs = [tmp_path / f"rank{r}-{port}.json" for r in range(world)]
    procs = [ctx.Process(target=_child, args=(fn, r, world, port, str(outs[r]), args)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
    for p in procs:
        if p.is_alive():  # a hang is a failure; never leave our own children behind
            p.kill()
            p.join()
    assert all(p.exitcode is not None for p in procs)
    return [json.loads(o.read_text()) if o.is_file() else {"code": None, "error": "no result"} for o in outs]


def _bank_arrays(path):
    bank = FeatureBank(path)
    return bank, {k: np.asarray(bank[k]) for k in bank}


def assert_same_bank(a, b):
    ba, xa = _bank_arrays(a)
    bb, xb = _bank_arrays(b)
    assert ba.meta["key"] == bb.meta["key"] and ba.ids == bb.ids and list(ba.split) == list(bb.split)
    assert xa.keys() == xb.keys() and xa
    for k in xa:  # bitwise
        assert xa[k].dtype == xb[k].dtype and xa[k].tobytes() == xb[k].tobytes(), k
    assert ba.meta["files"] == bb.meta["files"]  # the same SHA-256 of every array file


# -- pure helpers -------------------------------------------------------------------------------------------
def test_rounds_deal_batches_round_robin_and_cover_each_once():
    assert batch_ranges(7, 3) == [(0, 3), (3, 6), (6, 7)]
    for n, world in [(0, 2), (1, 3), (7, 2), (8, 3), (5, 5)]:
        seen = []
        for rank in range(world):
            mine = [r.mine for r in rounds(n, DistInfo(rank, world)) if r.mine is not None]
            assert all(k % world == rank for k in mine)
            seen += mine
        assert sorted(seen) == list(range(n))
        every = [r.batches for r in rounds(n, DistInfo(0, world))]
        assert sum(every, []) == list(range(n))  # rank 0 receives the batches in order


# -- feature extraction --------------------------------------------------------------------------------------
def _extract(rank, ckpt, out, extra):
    return main(["extract", str(ckpt), f"run.out={out}", "features.timesteps=[0,5,12]", "features.batch_size=3",
                 "run.device=cpu", "-q", *extra])


@pytest.mark.parametrize("dims,world", [(2, 2), (3, 3)])
def test_extract_on_ranks_equals_one_process(tmp_path, dims, world):
    spatial = (16, 16) if dims == 2 else (8, 8, 8)
    n = (11, 4, 5) if dims == 2 else (7, 3, 4)  # 20 / 14 samples in batches of 3: uneven over the ranks
    data = make_npz(tmp_path / "d.npz", spatial=spatial, n=n)
    ckpt = make_ckpt(tmp_path / "c.pt", data, size=spatial)
    extra = ["features.pool=grid", "features.grid=2"] if dims == 3 else []
    assert _extract(0, ckpt, tmp_path / "one", extra) == 0
    res = run_ranks(_extract, world, tmp_path, ckpt, tmp_path / "many", extra)
    assert [r["code"] for r in res] == [0] * world, res
    assert_same_bank(tmp_path / "one", tmp_path / "many")
    assert FeatureBank(tmp_path / "many").meta["ranks"] == world
    assert not list(tmp_path.glob(".many.partial-*"))


def _build_with_ride_along(rank, ckpt, data, out):
    from medfx.config import ExperimentConfig
    from medfx.data import DataConfig
    from medfx.diffusion.schedule import DiffusionConfig
    from medfx.features.extractor import FeaturesConfig
    from medfx.workflows.features import build_banks

    cfg = ExperimentConfig(data=DataConfig(path=str(data), size=(16, 16)),
                           diffusion=DiffusionConfig(num_train_timesteps=20),
                           features=FeaturesConfig(timesteps=(3, 9), batch_size=4))
    banks = build_banks(cfg, ckpt, [(out / "features", "gap", 2)], ride_along=[(out / "grid", "grid", 2)],
                        progress=False)
    assert (banks[0] is None) == (rank != 0) and (banks[1] is None) == (rank != 0)
    return 0


def test_extract_with_ride_along_bank_on_two_ranks(tmp_path):
    """The pipeline's extract stage (pooled bank + grid maps from one pass, ``build_banks``) on 2 ranks."""
    data = make_npz(tmp_path / "d.npz", n=(9, 3, 3))
    ckpt = make_ckpt(tmp_path / "c.pt", data, size=(16, 16))
    assert _build_with_ride_along(0, ckpt, data, tmp_path / "one") == 0
    res = run_ranks(_build_with_ride_along, 2, tmp_path, ckpt, data, tmp_path / "many")
    assert [r["code"] for r in res] == [0, 0], res
    for name in ("features", "grid"):
        assert_same_bank(tmp_path / "one" / name, tmp_path / "many" / name)


def _extract_failing(rank, ckpt, out, how):
    from medfx.data.datasets import ArrayDataset

    get = ArrayDataset.__getitem__

    def broken(self, i):
        if rank == 1 and i == 5:
            if how == "exit":
                os._exit(3)  # a rank that dies without a word (killed, out of memory)
            raise OSError(f"simulated unreadable item {i}")
        return get(self, i)

    ArrayDataset.__getitem__ = broken
    return _extract(rank, ckpt, out, [])


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_failing_rank_leaves_no_finished_bank(tmp_path, how, capfd):
    data = make_npz(tmp_path / "d.npz", n=(12, 4, 4))
    ckpt = make_ckpt(tmp_path / "c.pt", data)
    res = run_ranks(_extract_failing, 2, tmp_path, ckpt, tmp_path / "bank", how)
    assert res[0]["code"] == 2  # `medfx: error: ...`, not a hang
    err = capfd.readouterr().err
    if how == "raise":
        assert res[1]["code"] == 2 and "rank 1 of 2 failed during feature extraction" in err
        assert "simulated unreadable item 5" in err
    assert not (tmp_path / "bank").exists()  # nothing published; at most a .bank.partial-<pid> folder
    with pytest.raises(FileNotFoundError):
        FeatureBank(tmp_path / "bank")
    assert _extract(0, ckpt, tmp_path / "bank", []) == 0  # a later run builds it (and clears the leftover)
    assert len(FeatureBank(tmp_path / "bank").ids) == 20
    assert not list(tmp_path.glob(".bank.partial-*"))


# -- leader and followers (`medfx run`) ----------------------------------------------------------------------
@collective
def _note(out, text):
    from medfx.utils.distributed import agree
    from medfx.utils.runtime import init_distributed

    dist, _ = init_distributed("cpu")
    agree(dist)  # a collective op inside: every rank must be here
    with open(out / f"rank{dist.rank}.txt", "a") as f:
        f.write(text + "\n")


def _lead_or_follow(rank, out, fail):
    from medfx.utils.runtime import init_distributed

    dist, _ = init_distributed("cpu")
    if rank != 0:
        follow(dist)
        return 0
    with lead(dist):
        _note(out, "a")
        _note(out, "b")
        if fail:
            raise RuntimeError("rank 0 fails outside a collective call")
    return 0


@pytest.mark.parametrize("fail", [False, True])
def test_followers_join_every_collective_call_and_are_released(tmp_path, fail):
    res = run_ranks(_lead_or_follow, 3, tmp_path, tmp_path, fail)
    assert [r["code"] for r in res] == [1 if fail else 0, 0, 0], res
    if fail:
        assert "rank 0 fails outside a collective call" in res[0]["error"]
    for rank in range(3):
        assert (tmp_path / f"rank{rank}.txt").read_text() == "a\nb\n"


# -- the pipeline -------------------------------------------------------------------------------------------------
def _pipeline(rank, data, out, extra):
    from test_pipeline import cfg_for

    from medfx.workflows.pipeline import run_pipeline

    run_pipeline(cfg_for(data, out, "pipeline.stages=['pretrain','extract','probe']", "run.device=cpu", *extra),
                 progress=False)
    return 0


@pytest.mark.slow
def test_pipeline_on_two_ranks(tmp_path):
    """`medfx run` under torchrun: rank 0 leads, rank 1 follows into the DDP pretraining and the extraction;
    the bank equals a one-process extraction from the same checkpoint, and so does the probe grid."""
    data = make_npz(tmp_path / "d.npz", n=(10, 5, 5))
    res = run_ranks(_pipeline, 2, tmp_path, data, tmp_path / "two", ["run.name=p"])
    assert [r["code"] for r in res] == [0, 0], res
    run = tmp_path / "two" / "p"
    assert (run / "stages" / "probe.json").is_file() and not (tmp_path / "two" / "p" / "ddpm" / "rank1").exists()
    _pipeline(0, data, tmp_path / "one", ["run.name=p", f"pipeline.checkpoint={run / 'ddpm' / 'last.pt'}"])
    assert_same_bank(run / "features", tmp_path / "one" / "p" / "features")
    grid = [json.loads((r / "probe" / "probe_grid.json").read_text()) for r in (run, tmp_path / "one" / "p")]
    assert grid[0]["table"] == grid[1]["table"]


# -- sampling -------------------------------------------------------------------------------------------------
def _sample(rank, ckpt, out, n):
    return main(["sample", str(ckpt), "--n", str(n), "--batch-size", "2", "--steps", "3", "--sampler", "ddpm",
                 "--out", str(out), "run.device=cpu", "-q"])


@pytest.mark.parametrize("size", [(16, 16), (8, 8, 8)])
def test_sample_on_two_ranks_writes_the_same_files(tmp_path, size):
    ckpt = make_ckpt(tmp_path / "c.pt", size=size)
    assert _sample(0, ckpt, tmp_path / "one", 7) == 0
    res = run_ranks(_sample, 2, tmp_path, ckpt, tmp_path / "many", 7)
    assert [r["code"] for r in res] == [0, 0], res
    one = {p.relative_to(tmp_path / "one"): p for p in (tmp_path / "one").rglob("*") if p.is_file()}
    many = {p.relative_to(tmp_path / "many"): p for p in (tmp_path / "many").rglob("*") if p.is_file()}
    assert one.keys() == many.keys() and len([p for p in one if p.suffix in (".png", ".gz")]) >= 7
    for rel in one:  # images bitwise; manifest, grid and generation.json too
        assert one[rel].read_bytes() == many[rel].read_bytes(), rel


# -- FID statistics -------------------------------------------------------------------------------------------
def _images(n=23):
    return torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (n, 1, 12, 12)).astype(np.float32))


def _stats(rank, out):
    from medfx.utils.runtime import init_distributed

    dist, _ = init_distributed("cpu")
    det = RandomConvDetector(2, feature_dim=8, seed=1)
    stats = compute_stats(_images(), det, batch_size=4, dist=dist)  # 6 batches: uneven over 2 ranks
    feats = compute_features(_images(), det, batch_size=5, dist=dist)
    stats.save(out / f"stats{rank}.npz")
    if rank == 0:
        np.save(out / "feats.npy", feats.numpy())
    else:
        assert feats is None
    return 0


def test_fid_statistics_on_two_ranks_equal_one_process(tmp_path):
    det = RandomConvDetector(2, feature_dim=8, seed=1)
    ref = compute_stats(_images(), det, batch_size=4)
    res = run_ranks(_stats, 2, tmp_path, tmp_path)
    assert [r["code"] for r in res] == [0, 0], res
    for rank in (0, 1):  # every rank holds the statistics of all images after the float64 reduction
        got = FeatureStats.load(tmp_path / f"stats{rank}.npz")
        assert got.n == ref.n == 23
        np.testing.assert_allclose(got.mean(), ref.mean(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.cov(), ref.cov(), rtol=1e-12, atol=1e-14)
    feats = np.load(tmp_path / "feats.npy")  # gathered features: bitwise
    assert feats.tobytes() == compute_features(_images(), det, batch_size=5).numpy().tobytes()


def _fid(rank, real, fake, out):
    return main(["fid", str(real), str(fake), "--detector", "randconv", "--per-class", "--batch-size", "5",
                 "--out", str(out), "run.device=cpu", "-q"])


def test_fid_command_on_two_ranks_equals_one_process(tmp_path):
    from test_generate import _png_folder

    real, fake = _png_folder(tmp_path / "real", noise=0.0), _png_folder(tmp_path / "fake", noise=0.5)
    assert _fid(0, real, fake, tmp_path / "one.json") == 0
    res = run_ranks(_fid, 2, tmp_path, real, fake, tmp_path / "two.json")
    assert [r["code"] for r in res] == [0, 0], res
    one, two = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert one == two and one["fd"] > 0 and one["n_real"] == 24  # every number, per class too, exactly


def test_feature_stats_merge_is_additive():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    whole = FeatureStats(5).update(x)
    parts = FeatureStats(5).update(x[:13]).merge(FeatureStats(5).update(x[13:]))
    assert parts.n == 40
    np.testing.assert_allclose(parts.cov(), np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(parts.mean(), whole.mean(), rtol=1e-13)
    with pytest.raises(ValueError, match="dimensions differ"):
        parts.merge(FeatureStats(4).update(x[:3, :4]))


# -- launch scripts -------------------------------------------------------------------------------------------
def test_slurm_example_is_valid_bash():
    script = ROOT / "examples" / "slurm_extract.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "torchrun" in text and "--rdzv-backend=c10d" in text and "medfx extract" in text


@pytest.mark.slow
def test_real_torchrun_extract_equals_one_process(tmp_path):
    """``torchrun --standalone --nproc_per_node=2 -m medfx extract`` (fresh interpreters, real launcher)."""
    data = make_npz(tmp_path / "d.npz", n=(7, 3, 3))
    ckpt = make_ckpt(tmp_path / "c.pt", data)
    args = ["extract", str(ckpt), "features.timesteps=[0,7]", "features.batch_size=2", "run.device=cpu", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "medfx", *args, f"run.out={tmp_path / 'one'}"], check=True, env=env)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                    "medfx", *args, f"run.out={tmp_path / 'many'}"], check=True, env=env, timeout=300)
    assert_same_bank(tmp_path / "one", tmp_path / "many")
