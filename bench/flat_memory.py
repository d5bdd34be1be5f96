"""Peak RSS of extraction and head training at 1x, 4x and 16x a synthetic dataset, and peak RSS per voxel of a
3D extraction pass (issue 16 item 2). Every measurement runs in a fresh process; RSS is the kernel's VmHWM (peak
resident set, file-backed pages included) minus the resident set just before the measured work; RssAnon (the
process's own heap, sampled every 20 ms) is reported next to it, because memory-mapped bank files count in RSS
while they are mapped although the kernel can drop them at any time. Children run with a fixed glibc mmap
threshold and trim the heap before the baseline, so freed memory is not counted as resident.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/flat_memory.py --out bench/results/flat_memory.json

* extract: a folder of N synthetic 64x64 PNGs (2 classes), a random-init U-Net (channels 16/32/64), 3 blocks at
  one timestep into a gap bank plus a grid-8 bank (one pass, ``extract_banks``), batch 64.
* heads: on that bank, the pipeline's own loaders (``_classifier_data``, ``_load_images``) with heads.in_memory
  false (lazy: batch by batch) and true (medfx before: every image and grid map in RAM); one epoch of a CATS head
  on the 3 grid maps and of the small CNN on the images, then test predictions.
* accum: one epoch (2 steps of 16 volumes) of the 3D ResNet-18 baseline at 32^3 with heads.grad_accum 1 / 4 and
  precision fp32 / bf16 (peak RSS of training a head at a fixed batch).
* voxel: one extraction pass (batch 1, every block, gap pooling, t=10, random init) of the cpu-3d-28 U-Net at
  32^3, 64^3, 96^3 and of paper-3d at 32^3, 64^3, with every block's map kept until the pass ends (medfx before)
  or pooled as it is produced (now).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MiB = 2**20


# ---------------------------------------------------------------------------------------------------------------
# measurement helpers (child process)
# ---------------------------------------------------------------------------------------------------------------
def _status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) * 1024
    return out


class Sampler:
    """Peak RssAnon / RssFile, sampled every 20 ms in a thread."""

    def __init__(self):
        self.peak_anon = self.peak_file = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            s = _status()
            self.peak_anon = max(self.peak_anon, s["RssAnon"])
            self.peak_file = max(self.peak_file, s["RssFile"])
            time.sleep(0.02)

    def __enter__(self):
        self.base = _status()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        end = _status()
        self.result = {"base_rss_mib": self.base["VmRSS"] / MiB, "peak_rss_mib": end["VmHWM"] / MiB,
                       "delta_rss_mib": (end["VmHWM"] - self.base["VmRSS"]) / MiB,
                       "delta_anon_mib": (max(self.peak_anon, end["RssAnon"]) - self.base["RssAnon"]) / MiB,
                       "peak_file_mib": max(self.peak_file, end["RssFile"]) / MiB}


def _reset_hwm():
    """Return freed heap to the OS (glibc malloc_trim) and start VmHWM from the current RSS (Linux: writing 5 to
    clear_refs)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _cfg(folder: Path, in_memory: bool = False):
    from medfx.config import load_config

    return load_config(None, [f"data.path={folder}", "data.size=[64,64]", f"heads.in_memory={in_memory}",
                              "heads.grid=8"])


def _unet(spatial_dims: int, channels=(16, 32, 64)):
    import torch

    from medfx.models import DiffusionUNet, UNetConfig

    torch.manual_seed(0)
    return DiffusionUNet(UNetConfig(spatial_dims=spatial_dims, channels=channels,
                                    attention_levels=(False, False, True), num_res_blocks=1,
                                    num_head_channels=(32,), norm_num_groups=16)).eval()


BLOCKS = ["down.1", "mid", "up.1"]


def child_extract(folder: Path, bank_dir: Path) -> dict:
    from medfx.data import load_splits
    from medfx.diffusion import DiffusionConfig
    from medfx.features import FeatureExtractor
    from medfx.features.bank import extract_banks

    cfg = _cfg(folder)
    splits = load_splits(cfg.data)
    model = _unet(2)
    ext = FeatureExtractor(model, DiffusionConfig(num_train_timesteps=100), blocks=BLOCKS, timesteps=[10],
                           pool="gap", seed=0)
    x, _, i = splits["train"][0]  # warm-up: decoding and one pass, so one-off costs stay out of the measurement
    ext.extract_pools(x[None], [i], [("gap", 2), ("grid", 8)])
    _reset_hwm()
    with Sampler() as s:
        t0 = time.perf_counter()
        banks = extract_banks(model, ext, splits, [(bank_dir / "features", "gap", 2)], {"bench": "flat"},
                              batch_size=64, progress=False, ride_along=[(bank_dir / "features_grid", "grid", 8)])
        wall = time.perf_counter() - t0
    n = len(banks[0].ids)
    grid_bytes = sum(f.stat().st_size for f in (bank_dir / "features_grid").glob("*.npy"))
    return {**s.result, "n": n, "wall_s": wall, "grid_bank_mib": grid_bytes / MiB}


def child_heads(folder: Path, bank_dir: Path, in_memory: bool) -> dict:
    import copy
    import dataclasses

    import torch

    from medfx.features.bank import FeatureBank
    from medfx.heads import CATSHead, HeadTrainConfig, fit_classifier, predict_proba
    from medfx.models.baselines import build_baseline
    from medfx.workflows.pipeline import _classifier_data, _load_images

    cfg = _cfg(folder, in_memory)
    gbank = FeatureBank(bank_dir / "features_grid", verify=False)
    keys = [(b, 10) for b in BLOCKS]
    torch.manual_seed(0)
    cats = CATSHead({k: gbank.shapes[k] for k in keys}, 2, width=32, depth=1, pool_grid=8)
    cnn = build_baseline("small_cnn", 2, 2)
    tcfg = HeadTrainConfig(epochs=1, batch_size=64, device="cpu", patience=0)
    warm = _classifier_data(gbank, keys, _load_images(cfg, gbank, in_memory=False), "train").subset(torch.arange(8))
    for model in (copy.deepcopy(cats), copy.deepcopy(cnn)):  # warm-up: imports and code paths, 8 samples
        fit_classifier(model, warm, warm, dataclasses.replace(tcfg, batch_size=4))
    del warm
    _reset_hwm()
    with Sampler() as s:
        t0 = time.perf_counter()
        images = _load_images(cfg, gbank)
        for model, k, imgs in ((cats, keys, None), (cnn, [], images)):
            tr, va, te = (_classifier_data(gbank, k, imgs, split, in_memory=in_memory)
                          for split in ("train", "val", "test"))
            fit = fit_classifier(model, tr, va, tcfg)
            predict_proba(fit.model, te)
            del tr, va, te
        wall = time.perf_counter() - t0
    return {**s.result, "n": len(gbank.ids), "wall_s": wall}


def child_voxel(size: int, mode: str, preset: str) -> dict:
    import torch

    from medfx.config import load_config
    from medfx.features import FeatureExtractor
    from medfx.models import build_backbone, resolve_backbone_spec

    cfg = load_config(None, [f"preset={preset}"])
    torch.manual_seed(0)
    model = build_backbone(resolve_backbone_spec(cfg.model, (1, size, size, size), None)).eval()
    ext = FeatureExtractor(model, cfg.diffusion, blocks=None, timesteps=[10], pool="gap", seed=0)
    x = torch.randn(1, 1, size, size, size)
    if mode == "kept":  # medfx before pool-as-produced: every requested block's full map alive until the end
        fb = model.forward_blocks
        model.forward_blocks = lambda xt, tt, blocks, y=None, reduce=None: {
            b: reduce(b, m) for b, m in fb(xt, tt, blocks, y=y).items()}
    ext.resolve_precision(tuple(x.shape[1:]))
    w = max(16, 2 ** (len(cfg.model.unet.channels) - 1))  # warm-up pass at the smallest valid size: one-off costs
    ext(torch.randn(1, 1, w, w, w), ["warm"])
    _reset_hwm()
    with Sampler() as s, torch.no_grad():
        t0 = time.perf_counter()
        feats = ext(x, ["v0"])
        wall = time.perf_counter() - t0
    assert len(feats) == len(ext.blocks)
    vox = size ** 3
    return {**s.result, "preset": preset, "size": size, "mode": mode, "wall_s": wall,
            "bytes_per_voxel": s.result["delta_rss_mib"] * MiB / vox,
            "anon_bytes_per_voxel": s.result["delta_anon_mib"] * MiB / vox}


def child_accum(grad_accum: int, precision: str, size: int = 32) -> dict:
    """One epoch (2 optimizer steps of 16 volumes) of MONAI's 3D ResNet-18 baseline at ``size``^3."""
    import dataclasses

    import torch

    from medfx.heads import ClassifierData, HeadTrainConfig, fit_classifier
    from medfx.models.baselines import build_baseline

    g = torch.Generator().manual_seed(0)
    data = ClassifierData(torch.arange(32) % 2, images=torch.randn(32, 1, size, size, size, generator=g))
    torch.manual_seed(0)
    model = build_baseline("resnet18", 3, 2)
    tcfg = HeadTrainConfig(epochs=1, batch_size=16, grad_accum=grad_accum, precision=precision, device="cpu",
                           eval_batch_size=4, patience=0)
    import copy

    warm = data.subset(torch.arange(4))
    fit_classifier(copy.deepcopy(model), warm, warm, dataclasses.replace(tcfg, batch_size=2, grad_accum=1))
    _reset_hwm()
    with Sampler() as s:
        t0 = time.perf_counter()
        fit = fit_classifier(model, data, data.subset(torch.arange(4)), tcfg)
        wall = time.perf_counter() - t0
    return {**s.result, "grad_accum": grad_accum, "precision": fit.precision["precision"], "size": size,
            "batch_size": 16, "wall_s": wall}


# ---------------------------------------------------------------------------------------------------------------
# orchestration (parent)
# ---------------------------------------------------------------------------------------------------------------
def make_pngs(root: Path, n: int, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        c = i % 2
        x = rng.integers(0, 60, size=(64, 64)).astype(np.uint8)
        if c:
            x[16:40, 20:44] = 200
        Image.fromarray(x).save(root / ("a", "b")[c] / f"{i:06d}.png")


def run_child(args: list[str]) -> dict:
    # a fixed mmap threshold: glibc then returns every large freed block to the OS at once (its default raises the
    # threshold after the first large free and keeps later blocks on the heap, which hides them from RSS deltas)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, __file__, "child", *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench/results/flat_memory.json")
    ap.add_argument("--base", type=int, default=500, help="images at 1x")
    ap.add_argument("--scales", default="1,4,16")
    ap.add_argument("--voxels", default="cpu-3d-28:32,64,96;paper-3d:32,64", help="preset:sizes;...")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: extract,heads,voxel,accum")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    res = {"command": " ".join(sys.argv), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
           "extract": [], "heads": [], "voxel": [], "accum": []}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        out.write_text(json.dumps(res, indent=1))

    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        for scale in [int(s) for s in a.scales.split(",") if s] if not {"extract", "heads"} <= skip else []:
            folder, bank = Path(tmp) / f"data{scale}", Path(tmp) / f"bank{scale}"
            make_pngs(folder, a.base * scale)
            r = run_child(["extract", str(folder), str(bank)])
            res["extract"].append({"scale": scale, **r})
            print("extract", scale, r, flush=True)
            save()
            if "heads" not in skip:
                for mem in (True, False):
                    r = run_child(["heads", str(folder), str(bank), str(int(mem))])
                    res["heads"].append({"scale": scale, "in_memory": mem, **r})
                    print("heads", scale, mem, r, flush=True)
                    save()
            subprocess.run(["rm", "-rf", str(folder), str(bank)], check=True)
    if "voxel" not in skip:
        for case in filter(None, a.voxels.split(";")):
            preset, sizes = case.split(":")
            for size, mode in [(int(z), m) for z in sizes.split(",") for m in ("kept", "pooled")]:
                r = run_child(["voxel", str(size), mode, preset])
                res["voxel"].append(r)
                print("voxel", size, mode, r, flush=True)
                save()
    if "accum" not in skip:
        for k, prec in ((1, "fp32"), (4, "fp32"), (1, "bf16"), (4, "bf16")):
            r = run_child(["accum", str(k), prec])
            res["accum"].append(r)
            print("accum", k, prec, r, flush=True)
            save()
    save()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "extract":
            r = child_extract(Path(rest[0]), Path(rest[1]))
        elif kind == "accum":
            r = child_accum(int(rest[0]), rest[1])
        elif kind == "heads":
            r = child_heads(Path(rest[0]), Path(rest[1]), bool(int(rest[2])))
        else:
            r = child_voxel(int(rest[0]), rest[1], rest[2])
        print(json.dumps(r))
    else:
        main()
