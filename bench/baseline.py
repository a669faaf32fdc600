"""``--baseline-ref REF`` for the benchmarks: a git ref checked out into a temporary worktree.

    with baseline.checkout("main") as tree:      # tree: Path of the detached checkout
        ServerProcess(data_dir, root=tree)       # that tree's run.py, cwd and PYTHONPATH

The worktree (``git worktree add --detach``) is removed when the block ends, also on an error, on
Ctrl-C and on SIGTERM (turned into SystemExit while the block runs). Only committed state is checked
out: uncommitted changes of the current tree never leak into the baseline. Both trees run with this
interpreter (the same virtualenv): a baseline that needs other packages cannot start (a warning says
when requirements.txt differs).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=check, timeout=300)


def describe(ref: str) -> str:
    """``REF (abc1234)``, for the report."""
    done = _git("rev-parse", "--short", f"{ref}^{{commit}}", check=False)
    return f"{ref} ({done.stdout.strip()})" if done.returncode == 0 else ref


def warn_if_requirements_differ(tree: Path) -> None:
    """Both trees run in this interpreter's environment: say so when the baseline pins other packages."""
    for name in ("requirements.txt",):
        mine, theirs = ROOT / name, tree / name
        if mine.exists() and theirs.exists() and mine.read_bytes() != theirs.read_bytes():
            print(f"warning: the baseline's {name} differs from this tree's; both run with {sys.executable} "
                  "(a package only the baseline needs makes its servers fail to start)", file=sys.stderr)


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """A detached worktree of ``ref`` (a branch, tag or commit of this repository), removed afterwards."""
    done = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if done.returncode != 0:
        raise SystemExit(f"--baseline-ref {ref!r}: not a commit of {ROOT}")
    scratch = Path(tempfile.mkdtemp(prefix="tp-baseline-"))
    tree = scratch / "tree"
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        added = _git("worktree", "add", "--detach", str(tree), done.stdout.strip(), check=False)
        if added.returncode != 0:
            raise SystemExit(f"git worktree add {ref} failed: {added.stderr.strip()}")
        warn_if_requirements_differ(tree)
        yield tree
    finally:
        try:
            if tree.exists():
                _git("worktree", "remove", "--force", str(tree), check=False)
            shutil.rmtree(scratch, ignore_errors=True)
            _git("worktree", "prune", check=False)
        finally:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def maybe_checkout(ref: str | None) -> Iterator[Path | None]:
    """``checkout(ref)``, or None without a ref (no baseline)."""
    if not ref:
        yield None
        return
    with checkout(ref) as tree:
        yield tree
