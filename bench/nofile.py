"""Descriptors for benchmarks that open thousands of connections (wrk, WebSocket crowds)."""

from __future__ import annotations

import resource


def raise_nofile(needed: int) -> int:
    """Raise this process's ``ulimit -n`` (children inherit it) to the hard limit; exit if it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"ulimit -n hard limit {hard} is below the {needed} descriptors this run needs")
    return target
