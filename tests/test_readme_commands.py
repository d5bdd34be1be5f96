"""Every `medfx ...` command line in README.md parses with today's command line (no stale flags or commands),
and the ones that need no checkpoint or downloaded data resolve their config with --dry-run."""

import re
import shlex
from pathlib import Path

import pytest

from medfx import cli

README = Path(__file__).resolve().parents[1] / "README.md"
DRY = {"pretrain", "finetune", "run"}  # resolve fully with --dry-run (unless they read an example checkpoint)


def readme_commands() -> list[str]:
    text = README.read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        block = re.sub(r"\\\n\s*", " ", block)  # shell line continuations
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("medfx ") or " -m medfx " in part:
                    lines.append(part)
    return lines


COMMANDS = readme_commands()


def _argv(line: str) -> list[str]:
    words = shlex.split(line)
    return words[words.index("medfx") + 1:]


def test_readme_has_commands():
    assert len(COMMANDS) > 15


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line, capsys):
    argv = _argv(line)
    if argv[:1] == ["--help"] or argv[:1] == ["--version"]:
        with pytest.raises(SystemExit) as e:
            cli.build_parser().parse_args(argv)
        assert e.value.code == 0
        return
    args, extra = cli.build_parser().parse_known_args(argv)
    assert all("=" in e and not e.startswith("-") for e in extra), extra  # as main() accepts them
    needs_files = any(a.endswith((".pt", ".pth")) and args.command != "finetune" for a in argv)  # checkpoints
    if args.command in DRY and "data.path=my_target.npz" not in argv and not needs_files:
        import torch

        threads = torch.get_num_threads()  # run.threads=N is applied by the command line even for --dry-run
        try:
            assert cli.main(argv + ["--dry-run"]) == 0, capsys.readouterr().err
        finally:
            torch.set_num_threads(threads)
