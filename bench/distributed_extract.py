"""Issue 16: feature extraction (or, with ``--sample N``, sampling) under ``torchrun`` with 2 processes against 1
process (wall time, equality).

Runs ``medfx extract CKPT data.max_per_split=N`` once as one process and once under
``torchrun --standalone --nproc_per_node=2``, each with ``OMP_NUM_THREADS=1`` per process, into two banks, then
checks that the banks are bitwise equal (every array file, same SHA-256). Reports the wall time of each command
(interpreter start, model and data loading included) and the extraction loop alone (``seconds`` in the bank's
meta.json, measured on rank 0). Example (on the shared 2-core machine, through the bench slot):

    /work/bin/benchslot python bench/distributed_extract.py /work/ckpt_keep/pn-s0/ckpt-0000500.pt \\
        --max-per-split 170 --out /tmp/dist_bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def cpu_info() -> dict:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return {}
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("Flags")), [])
    return {"model": model, "cpus": os.cpu_count(), "avx512_bf16": "avx512_bf16" in flags,
            "amx": any(f.startswith("amx") for f in flags)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt")
    p.add_argument("--max-per-split", type=int, default=170, help="images per split (3 splits)")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--out", default="/tmp/dist_bench")
    p.add_argument("--sample", type=int, metavar="N", help="instead: medfx sample --n N (DDIM, --steps)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("extra", nargs="*", help="more key=value settings for medfx extract")
    a = p.parse_intermixed_args()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if a.sample:
        return sample(a, out, env)
    args = ["extract", a.ckpt, f"data.max_per_split={a.max_per_split}", "run.device=cpu", "-q", *a.extra]
    one = run([sys.executable, "-m", "medfx", *args, f"run.out={out / 'one'}"], env)
    many = run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={a.nproc}",
                "-m", "medfx", *args, f"run.out={out / 'many'}"], env)

    from medfx.features.bank import FeatureBank

    b1, b2 = FeatureBank(out / "one"), FeatureBank(out / "many")
    equal = b1.meta["files"] == b2.meta["files"] and all(
        (out / "one" / f).read_bytes() == (out / "many" / f).read_bytes() for f in b1.meta["files"])
    res = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": cpu_info(),
           "torch": __import__("torch").__version__, "command": " ".join(args), "images": len(b1.ids),
           "keys": len(b1), "bitwise_equal": bool(equal),
           "wall_s": {"1": round(one, 1), str(a.nproc): round(many, 1)},
           "extract_loop_s": {"1": round(b1.meta["seconds"], 1), str(a.nproc): round(b2.meta["seconds"], 1)},
           "speedup_wall": round(one / many, 2), "speedup_loop": round(b1.meta["seconds"] / b2.meta["seconds"], 2),
           "loadavg_after": os.getloadavg()}
    print(json.dumps(res, indent=1))
    (out / "result.json").write_text(json.dumps(res, indent=1))


def sample(a, out: Path, env: dict) -> None:
    """``medfx sample`` into two folders; every file (images, manifest, grid) compared byte by byte."""
    # key=value, not --n: torchrun's parser would take --n for its own --nnodes
    args = ["sample", a.ckpt, f"sample.n={a.sample}", f"sample.steps={a.steps}", "run.device=cpu", "-q", *a.extra]
    one = run([sys.executable, "-m", "medfx", *args, f"run.out={out / 'one'}"], env)
    many = run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={a.nproc}",
                "-m", "medfx", *args, f"run.out={out / 'many'}"], env)
    files = sorted(f.relative_to(out / "one") for f in (out / "one").rglob("*") if f.is_file())
    other = sorted(f.relative_to(out / "many") for f in (out / "many").rglob("*") if f.is_file())
    equal = files == other and all((out / "one" / f).read_bytes() == (out / "many" / f).read_bytes()
                                   for f in files if f.name != "generation.json")
    res = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": cpu_info(),
           "torch": __import__("torch").__version__, "command": " ".join(args), "files": len(files),
           "bitwise_equal_except_generation_json": bool(equal),
           "wall_s": {"1": round(one, 1), str(a.nproc): round(many, 1)}, "speedup_wall": round(one / many, 2),
           "loadavg_after": os.getloadavg()}
    print(json.dumps(res, indent=1))
    (out / "result.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
