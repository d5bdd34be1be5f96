"""Import direction between medfx's packages: a lower layer never imports a higher one.

Layers, lowest first (README "Layout"):

    0  utils                                    helpers (no other medfx package)
    1  data | diffusion | models | metrics      siblings: none imports another (models holds checkpoint I/O)
    2  train | features                         siblings: the training loop; extractor, pooling, bank, KS map
    3  probes | heads | sklearn                 classifiers on top of features; the scikit-learn transformer
    4  generate | report                        sampling/FD of checkpoints; HTML report of a run directory
    5  config, presets, provenance, workflows   the workflow layer: command configs, run directories,
                                                logging and stage chaining (these may import each other)
    6  cli, __main__                            argument parsing only

Every import counts, also the ones inside functions (they hide the graph but not the dependency).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "medfx"

LAYERS = [
    ({"utils"}, False),
    ({"data", "diffusion", "models", "metrics"}, False),
    ({"train", "features"}, False),
    ({"probes", "heads", "sklearn"}, False),
    ({"generate", "report"}, False),
    ({"config", "presets", "provenance", "workflows"}, True),  # True: members may import each other
    ({"cli", "__main__"}, True),
]
RANK = {name: i for i, (names, _) in enumerate(LAYERS) for name in names}
OPEN = {i for i, (_, open_) in enumerate(LAYERS) if open_}

# library packages: never touch process-global state (workflow code does; see medfx/workflows/logs.py)
LIBRARY = {name for names, _ in LAYERS[:5] for name in names}
GLOBAL_STATE = ("addHandler", "removeHandler", "basicConfig", "matplotlib.use(", "set_num_threads(", "matplotlib.pyplot",
                "apply_threads(")
# the one helper that sets torch threads, defined low so the CLI and workflows share it; only they call it
ALLOWED = {("medfx/utils/hardware.py", "set_num_threads("), ("medfx/utils/hardware.py", "apply_threads(")}


def _unit(module: str) -> str:
    """``medfx.features.bank`` -> ``features``; ``medfx.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> tuple[str, str]:
    parts = path.with_suffix("").relative_to(ROOT.parent).parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), ".".join(parts[:-1])
    return ".".join(parts), ".".join(parts[:-1])


def _exists(module: str) -> bool:
    p = ROOT.parent.joinpath(*module.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def medfx_imports(path: Path):
    """``(line, imported medfx module)`` for every import statement of ``path``, relative ones resolved."""
    _, package = _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            modules = [n for n in names if _exists(n)]  # `from . import x` may name a module or an attribute
            yield from ((node.lineno, m) for m in (modules or [target]))


def violations() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        name, _ = _module_name(path)
        src = _unit(name)
        if src == "":  # medfx/__init__.py
            continue
        assert src in RANK, f"{path}: package {src!r} has no layer in tests/test_layering.py (add it, and to README)"
        for line, target in medfx_imports(path):
            if not (target == "medfx" or target.startswith("medfx.")):
                continue
            dst = _unit(target)
            if dst in ("", src):
                continue
            assert dst in RANK, f"{path}:{line}: imports unknown package {target}"
            a, b = RANK[src], RANK[dst]
            if b > a or (b == a and a not in OPEN):
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: {src} (layer {a}) imports {target} "
                             f"(layer {b})")
    return found


def test_no_import_goes_up_a_layer():
    bad = violations()
    assert not bad, "lower layers import higher ones:\n" + "\n".join(bad)


def test_library_packages_leave_global_state_alone():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        if _unit(_module_name(path)[0]) not in LIBRARY:
            continue
        code = path.read_text()
        rel = str(path.relative_to(ROOT.parent))
        bad += [f"{rel}: {w}" for w in GLOBAL_STATE if w in code and (rel, w) not in ALLOWED]
    assert not bad, "library code sets up logging, threads or a plotting backend:\n" + "\n".join(bad)


def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch):
    """The test itself can fail: a library module importing the workflow layer is reported."""
    fake = tmp_path / "medfx"
    (fake / "features").mkdir(parents=True)
    (fake / "workflows").mkdir()
    (fake / "features" / "__init__.py").write_text("")
    (fake / "workflows" / "__init__.py").write_text("")
    (fake / "workflows" / "pipeline.py").write_text("")
    (fake / "features" / "x.py").write_text("def f():\n    from ..workflows.pipeline import run\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    assert violations() == ["medfx/features/x.py:2: features (layer 2) imports medfx.workflows.pipeline (layer 5)"]
