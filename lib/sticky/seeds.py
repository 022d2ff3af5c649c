"""Named random streams: every random draw in the book comes from ``(seed, purpose)``, never from a seed plus a
magic offset, so two purposes never share a stream by accident and adding one moves no other.

Introduced with the micro-world (``sticky.world``), whose generators draw one stream per kind of document.
"""

from __future__ import annotations

import hashlib
import random


def rng(seed: int, purpose: str) -> random.Random:
    """A Python ``random.Random`` for ``purpose`` under ``seed`` (seeded by the string ``"{purpose}-{seed}"``)."""
    return random.Random(f"{purpose}-{seed}")


def stream(seed: int, purpose: str) -> int:
    """An integer seed for ``purpose`` under ``seed`` (for ``torch`` and ``numpy``, which take integers): the
    first 32 bits of SHA-256 of ``"{purpose}-{seed}"`` (32, so that ``train``'s per-step generators, which
    multiply the seed by about 10^6, stay inside torch's 64-bit seed range)."""
    digest = hashlib.sha256(f"{purpose}-{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "big")
