"""What the hardware offers: the precision ``auto`` resolves to, thread counts, and an environment report.

``decide_precision(requested, device, probe)`` turns ``precision=auto`` into fp32, bf16 or fp16:

* CUDA: bf16 where the GPU supports it natively (``torch.cuda.is_bf16_supported()``, Ampere and newer), else fp16
  with a gradient scaler.
* CPU: bf16 only where torch reports native bf16 (``torch.backends.cpu.get_cpu_capability()`` is an AVX512/AMX
  level and ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``) AND a short measurement of the workload (``probe``:
  a few seconds of forward(+backward) in fp32 and in bf16) finds bf16 faster. Without native bf16 the answer is
  fp32 without measuring (emulated bf16 is several times slower). The measured verdict is cached per machine
  (CPU model, torch version, capability, threads) and workload (a hash of the model config and input shape) in
  ``$MEDFX_CACHE_DIR/precision.json`` (default ``~/.cache/medfx/precision.json``).
* Anything else (MPS, ...): fp32.

An explicit ``fp32``/``bf16``/``fp16`` is used as given (``fp16`` needs CUDA).

``environment_report()`` returns versions, CPU and GPU facts, threads and the ``auto`` precision as a plain dict
(``medfx env`` prints it; run directories can store it as ``env.json``). Nothing here changes global state:
``plan_threads`` only computes thread counts; ``medfx.workflows.threads.apply_run_threads`` applies them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import __version__
from .dataclass_io import to_dict
from .runtime import autocast

logger = logging.getLogger("medfx")

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: bf16 must be at least this much faster (img/s ratio) to be chosen over fp32 on a CPU
BF16_MIN_SPEEDUP = 1.05
CACHE_ENV = "MEDFX_CACHE_DIR"


# ---------------------------------------------------------------------------------------------------------------
# machine facts
# ---------------------------------------------------------------------------------------------------------------
def _cpuinfo() -> dict[str, str]:
    """First processor block of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.split("\n\n")[0].splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def cpu_model() -> str:
    info = _cpuinfo()
    return info.get("model name") or platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> set[str]:
    return set(_cpuinfo().get("flags", "").split())


def cpu_capability() -> str:
    """torch's CPU kernel level: DEFAULT, AVX2, AVX512, ... (``torch.backends.cpu.get_cpu_capability()``)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - older torch
        return "unknown"


def mkldnn_bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - torch without oneDNN
        return False


def cpu_bf16_native() -> tuple[bool, str]:
    """(torch claims native bf16 on this CPU, a one-line explanation)."""
    cap, mkl = cpu_capability(), mkldnn_bf16_supported()
    native = mkl and (cap.upper().startswith("AVX512") or "AMX" in cap.upper())
    return native, f"torch CPU capability {cap}, oneDNN bf16 {'yes' if mkl else 'no'}"


def usable_cores() -> int:
    """CPU cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where unavailable)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------------------------
# threads (computed here; applied by the workflow layer, medfx.workflows.threads)
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThreadPlan:
    threads: int
    interop: int
    reason: str

    def to_dict(self) -> dict:
        return {"threads": self.threads, "interop": self.interop, "reason": self.reason}


def busy_cores(interval: float = 0.3) -> float:
    """Cores busy with other work right now: CPU time of the whole machine over ``interval`` seconds (from
    ``/proc/stat``), while this process sleeps. Unlike the 1-minute load average, this does not still count a job
    that finished seconds ago (e.g. the ``pip install`` before a first run). Falls back to the load average."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
        return sum(v[:8]), idle

    try:
        t0, i0 = sample()
        time.sleep(interval)
        t1, i1 = sample()
        total = max(t1 - t0, 1)
        return (os.cpu_count() or 1) * (1.0 - (i1 - i0) / total)
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0


def plan_threads(requested: int | str = "auto", environ: dict | None = None, cores: int | None = None,
                 load: float | None = None) -> ThreadPlan:
    """Torch intra-op / inter-op threads for ``run.threads`` (``auto`` or a number).

    ``auto``: ``OMP_NUM_THREADS`` when the user set it; else the usable cores divided by the medfx processes on
    this machine (``LOCAL_WORLD_SIZE`` from torchrun, default 1), capped by the cores the rest of the machine
    leaves idle right now (:func:`busy_cores`, measured over 0.3 s), at least 1: on a busy
    machine, OpenMP threads that wait for each other run several times slower than one thread (BENCHMARKS.md).
    Inter-op threads: 1 when a process has one or two threads, else 2 (the models run one op at a time).
    """
    env = os.environ if environ is None else environ
    cores = usable_cores() if cores is None else cores
    if requested not in ("auto", 0, "0"):
        n = int(requested)
        if n < 1:
            raise ValueError(f"run.threads must be 'auto' or >= 1, got {requested!r}")
        reason = "run.threads"
    elif env.get("OMP_NUM_THREADS", "").strip().isdigit() and int(env["OMP_NUM_THREADS"]) > 0:
        n, reason = int(env["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    else:
        local = max(1, int(env.get("LOCAL_WORLD_SIZE", "1") or 1))
        n = max(1, cores // local)
        reason = f"{cores} usable cores / {local} process{'es' if local > 1 else ''} on this machine"
        if load is None:
            load = busy_cores()
        idle = max(1, int(cores - load + 0.5))
        if idle < n:
            n = idle
            reason += f", capped by {load:.1f} cores busy with other work"
    return ThreadPlan(n, 1 if n <= 2 else 2, reason)


# ---------------------------------------------------------------------------------------------------------------
# measuring a workload
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Probe:
    """A workload to time: ``step(dtype)`` runs one step under autocast ``dtype`` (None = fp32) and returns the
    number of samples it processed; ``key`` describes the workload (hashed into the cache key)."""

    key: dict
    step: Callable[[torch.dtype | None], int]


def backbone_probe(model: torch.nn.Module, input_shape, batch_size: int = 16, train: bool = True) -> Probe:
    """Forward (+ backward when ``train``) of a diffusion backbone on random inputs of ``[batch, *input_shape]``.

    Runs on a copy, so the model's weights, gradients and mode are untouched."""
    import copy

    input_shape = tuple(int(s) for s in input_shape)
    spec = getattr(model, "config", None)
    try:
        spec = to_dict(spec) if spec is not None else None
    except Exception:  # noqa: BLE001
        spec = repr(spec)
    key = {"model": type(model).__name__, "config": spec, "input": list(input_shape), "batch": int(batch_size),
           "mode": "train" if train else "infer"}
    state: dict = {}

    def step(dtype):
        if "net" not in state:
            net = copy.deepcopy(model)
            net.train(train)
            device = next(net.parameters()).device
            g = torch.Generator().manual_seed(0)
            x = torch.randn((batch_size, *input_shape), generator=g).to(device)
            t = torch.randint(0, 10, (batch_size,), generator=g).to(device)
            y = None
            if getattr(net, "num_classes", None):
                y = torch.zeros(batch_size, dtype=torch.long, device=device)
            state.update(net=net, x=x, t=t, y=y, device=device)
        net, x, t, y, device = state["net"], state["x"], state["t"], state["y"], state["device"]
        if train:
            net.zero_grad(set_to_none=True)
            with autocast(device, dtype):
                out = net(x, t, y)
            torch.nn.functional.mse_loss(out.float(), x).backward()
        else:
            with torch.no_grad(), autocast(device, dtype):
                net(x, t, y)
        return batch_size

    return Probe(key, step)


def measure(probe: Probe, names=("fp32", "bf16"), seconds: float = 3.0, min_steps: int = 2) -> dict[str, float]:
    """Samples/s of ``probe`` under each precision: one warm-up step each, then alternating timed steps until
    ``seconds`` (all precisions together) have passed and each has run at least ``min_steps`` steps."""
    for name in names:
        probe.step(_DTYPES[name])
    spent = dict.fromkeys(names, 0.0)
    done = dict.fromkeys(names, 0)
    steps = dict.fromkeys(names, 0)
    start = time.perf_counter()
    while True:
        for name in names:
            t0 = time.perf_counter()
            done[name] += probe.step(_DTYPES[name])
            spent[name] += time.perf_counter() - t0
            steps[name] += 1
        if min(steps.values()) >= min_steps and time.perf_counter() - start >= seconds:
            break
    return {name: done[name] / max(spent[name], 1e-9) for name in names}


# ---------------------------------------------------------------------------------------------------------------
# the decision
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrecisionDecision:
    """What ``precision=<requested>`` resolved to on ``device``, and why."""

    name: str  # fp32 | bf16 | fp16
    reason: str
    requested: str = "auto"
    device: str = "cpu"
    measured: dict | None = field(default=None, compare=False)  # {"fp32": img/s, "bf16": img/s, "cached": bool}

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None = plain fp32)."""
        return _DTYPES[self.name]

    @property
    def grad_scaler(self) -> bool:
        """Training needs a ``GradScaler`` (fp16)."""
        return self.name == "fp16"

    def to_dict(self) -> dict:
        return {"precision": self.name, "requested": self.requested, "device": self.device, "reason": self.reason,
                "measured": self.measured}

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def cache_path() -> Path:
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "medfx") / "precision.json"


def machine_key() -> dict:
    return {"cpu": cpu_model(), "capability": cpu_capability(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def _cache_key(probe: Probe) -> str:
    blob = json.dumps({"machine": machine_key(), "workload": probe.key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, key: str, entry: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(path)
        data[key] = entry
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as e:  # a read-only home must not stop a run
        logger.debug("precision cache %s not written: %s", path, e)


def _cpu_measured(probe: Probe | None, why_native: str, seconds: float, use_cache: bool) -> tuple[str, str, dict | None]:
    if probe is None:
        return "fp32", f"{why_native}, but no workload to measure bf16 against fp32 on", None
    path = cache_path()
    key = _cache_key(probe)
    entry = _read_cache(path).get(key) if use_cache else None
    cached = isinstance(entry, dict) and {"fp32", "bf16"} <= set(entry)
    if not cached:
        ips = measure(probe, ("fp32", "bf16"), seconds=seconds)
        entry = {"fp32": round(ips["fp32"], 2), "bf16": round(ips["bf16"], 2), "date": time.strftime("%Y-%m-%d"),
                 "machine": machine_key(), "workload": probe.key}
        if use_cache:
            _write_cache(path, key, entry)
    fp32, bf16 = float(entry["fp32"]), float(entry["bf16"])
    faster = bf16 >= BF16_MIN_SPEEDUP * fp32
    how = f"cached in {path}" if cached else "measured"
    reason = (f"{why_native}; {how}: bf16 {bf16:.1f} vs fp32 {fp32:.1f} samples/s "
              f"({'bf16 faster' if faster else 'bf16 not faster'})")
    return ("bf16" if faster else "fp32"), reason, {"fp32": fp32, "bf16": bf16, "cached": cached}


def decide_precision(requested: str, device: torch.device | str = "cpu", probe: Probe | None = None,
                     seconds: float = 3.0, use_cache: bool = True) -> PrecisionDecision:
    """Resolve ``precision=requested`` (auto, fp32, bf16, fp16) on ``device``; see the module docstring."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    device = torch.device(device)
    dev = str(device)
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("precision=fp16 needs CUDA; use bf16 or fp32 on CPU")
    if requested != "auto":
        reason = "requested"
        if requested == "bf16" and device.type == "cpu" and not cpu_bf16_native()[0]:
            reason += f"; bf16 is emulated on this CPU ({cpu_bf16_native()[1]}) and usually much slower than fp32"
        return PrecisionDecision(requested, reason, requested, dev)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported():
            return PrecisionDecision("bf16", f"auto: {name} supports bf16 natively", "auto", dev)
        return PrecisionDecision("fp16", f"auto: {name} has no native bf16; fp16 with a gradient scaler",
                                 "auto", dev)
    if device.type == "cpu":
        native, why = cpu_bf16_native()
        if not native:
            return PrecisionDecision("fp32", f"auto: no native bf16 on this CPU ({why})", "auto", dev)
        name, reason, measured = _cpu_measured(probe, f"native bf16 ({why})", seconds, use_cache)
        return PrecisionDecision(name, "auto: " + reason, "auto", dev, measured)
    return PrecisionDecision("fp32", f"auto: fp32 on {device.type}", "auto", dev)


def decide_precision_distributed(requested: str, device, probe: Probe | None, dist) -> PrecisionDecision:
    """``decide_precision`` on rank 0, broadcast to every rank (ranks must agree on the autocast dtype)."""
    if not getattr(dist, "enabled", False):
        return decide_precision(requested, device, probe)
    obj = [decide_precision(requested, device, probe).to_dict() if dist.is_main else None]
    torch.distributed.broadcast_object_list(obj, src=0)
    d = obj[0]
    return PrecisionDecision(d["precision"], d["reason"], d["requested"], str(device), d["measured"])


# ---------------------------------------------------------------------------------------------------------------
# environment report (``medfx env``)
# ---------------------------------------------------------------------------------------------------------------
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "KMP_AFFINITY", "OMP_PROC_BIND",
                "LOCAL_WORLD_SIZE", CACHE_ENV)


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001
        return None


def environment_report(probe: Probe | None = None, bench_seconds: float = 3.0) -> dict:
    """Versions, CPU / GPU facts, threads and the precision ``auto`` picks, as a JSON-friendly dict.

    With ``probe`` (e.g. ``backbone_probe(model, shape)``) the workload is measured in fp32 and bf16 (and fp16 on
    CUDA) for ``bench_seconds`` and the ``auto`` decision is made for it (cache not used, not written)."""
    import numpy as np

    native, why = cpu_bf16_native()
    flags = cpu_flags()
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                         "capability": f"{p.major}.{p.minor}", "bf16": bool(torch.cuda.is_bf16_supported())})
    device = torch.device("cuda" if gpus else "cpu")
    report = {
        "medfx": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": torch.__version__, "monai": _version("monai"), "numpy": np.__version__,
        "scikit-learn": _version("scikit-learn"),
        "cpu": {"model": cpu_model(), "capability": cpu_capability(), "bf16_native": native, "bf16_detail": why,
                "flags": {f: f in flags for f in _CPU_FLAGS} if flags else None,
                "cores_usable": usable_cores(), "cores_total": os.cpu_count()},
        "threads": {"torch": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
                    "auto_plan": plan_threads("auto").to_dict(),
                    "env": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ}},
        "gpus": gpus, "cuda": torch.version.cuda,
    }
    decision = decide_precision("auto", device, probe, seconds=bench_seconds, use_cache=False)
    report["precision_auto"] = decision.to_dict()
    if probe is not None:
        if decision.measured and device.type == "cpu":  # the decision already timed fp32 and bf16
            ips = {k: decision.measured[k] for k in ("fp32", "bf16")}
        else:
            names = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
            ips = measure(probe, names, seconds=bench_seconds)
        report["bench"] = {"workload": probe.key, "device": str(device),
                           "samples_per_s": {k: round(v, 2) for k, v in ips.items()}}
    return report


def format_report(r: dict) -> str:
    """``environment_report()`` as the text ``medfx env`` prints."""
    c, th = r["cpu"], r["threads"]
    lines = [f"medfx {r['medfx']}  python {r['python']}  torch {r['torch']}  monai {r['monai']}  "
             f"numpy {r['numpy']}  scikit-learn {r['scikit-learn']}",
             f"platform      {r['platform']}",
             f"cpu           {c['model']}",
             f"cpu features  torch capability {c['capability']}; native bf16: {'yes' if c['bf16_native'] else 'no'}"
             f" ({c['bf16_detail']})"]
    if c["flags"]:
        lines.append("cpu flags     " + " ".join(f"{k}={'yes' if v else 'no'}" for k, v in c["flags"].items()))
    lines.append(f"cores         {c['cores_usable']} usable of {c['cores_total']}")
    plan = th["auto_plan"]
    lines.append(f"threads       torch {th['torch']}, inter-op {th['interop']}; run.threads=auto would use "
                 f"{plan['threads']} / {plan['interop']} ({plan['reason']})")
    lines.append("thread env    " + (" ".join(f"{k}={v}" for k, v in th["env"].items()) or "(none set)"))
    if r["gpus"]:
        for g in r["gpus"]:
            lines.append(f"gpu {g['index']}         {g['name']}, {g['memory_gib']} GiB, compute {g['capability']}, "
                         f"bf16 {'yes' if g['bf16'] else 'no'}")
    else:
        lines.append("gpus          none (CUDA " + ("not built" if r["cuda"] is None else "unavailable") + ")")
    p = r["precision_auto"]
    reason = p["reason"].removeprefix("auto: ")
    lines.append(f"precision     auto -> {p['precision']} on {p['device']}: {reason}")
    if "bench" in r:
        b = r["bench"]
        w = b["workload"]
        what = (f"{w['model']} {w['mode']} step, batch {w['batch']} x {tuple(w['input'])}"
                if {"model", "mode", "batch", "input"} <= set(w) else json.dumps(w, default=str))
        lines.append(f"measured      {what} on {b['device']}: "
                     + ", ".join(f"{k} {v:.1f} img/s" for k, v in b["samples_per_s"].items()))
    return "\n".join(lines)
