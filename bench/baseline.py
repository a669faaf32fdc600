"""``--baseline-ref REF`` for the benchmarks: a git ref checked out into a temporary worktree.

    with baseline.checkout("main") as tree:      # tree: Path of the detached checkout
        ServerProcess(data_dir, root=tree)       # that tree's run.py, cwd and PYTHONPATH

The worktree (``git worktree add --detach``) is removed when the block ends, also on an error, on
Ctrl-C and on SIGTERM (turned into SystemExit while the block runs). Only committed state is checked
out: uncommitted changes of the current tree never leak into the baseline. Both trees run with this
interpreter (the same virtualenv); packages only the baseline pins are installed into the checkout
(``EXTRA_SITE``) and put on its servers' PYTHONPATH.
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


# Packages the baseline pins and this tree does not go here, inside the checkout (tests/helpers.py
# ServerProcess puts it on PYTHONPATH after the tree): both trees run with this interpreter.
EXTRA_SITE = ".bench-site"


def _pins(path: Path) -> set[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def install_missing_requirements(tree: Path) -> None:
    """``pip install --target`` the pins only the baseline has (the multipart parser it used, say)."""
    missing = sorted(_pins(tree / "requirements.txt") - _pins(ROOT / "requirements.txt"))
    if not missing:
        return
    print(f"baseline: installing what only it pins into {tree / EXTRA_SITE}: {' '.join(missing)}", file=sys.stderr)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                           str(tree / EXTRA_SITE), *missing], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        print(f"warning: could not install {missing}: {done.stderr.strip()[-500:]}", file=sys.stderr)


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
        install_missing_requirements(tree)
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
