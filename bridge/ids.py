"""Unique ids for requests and notifications, cheap enough for the hot path.

uuid4 reads the kernel's random pool for every id (a syscall, slow on some VMs). Here each
process draws 64 random bits once and counts from there: ids stay unique across processes and
restarts (a new prefix each time) and cost one counter step and one format.
"""

from __future__ import annotations

import itertools
import os

_prefix = ""
_counter = itertools.count()


def _start() -> None:
    """A fresh random prefix and counter: at import, and in a forked child."""
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


def new_id() -> str:
    """32 lowercase hex digits (uuid4().hex's shape): 64 random bits, then a 64-bit counter."""
    return f"{_prefix}{next(_counter):016x}"


_start()
# A forked child would otherwise repeat its parent's ids.
os.register_at_fork(after_in_child=_start)
