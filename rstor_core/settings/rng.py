"""Named random streams: every random draw of the study comes from ``stream(seed, *keys)``.

A stream is a ``numpy.random.Generator`` seeded by a ``SeedSequence`` of the run's seed and the
stream's keys (names such as ``"validation"`` or indices such as a step), so streams with other
keys are independent, a stream never depends on what was drawn before it, and no seed is ever
made by arithmetic (``seed + 1000 * i`` collides with the stream of seed + 1000). Torch and numba
code take an integer seed: :func:`stream_seed`.

>>> stream(0, "validation").random() == stream(0, "validation").random()
True
"""

from __future__ import annotations

import hashlib

import numpy as np

Key = str | int


def stream(seed: int, *keys: Key) -> np.random.Generator:
    """The generator of stream ``keys`` of run ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(_entropy(seed, keys)))


def skip_doubles(rng: np.random.Generator, count: int) -> None:
    """Move ``rng`` past ``count`` doubles, exactly as ``rng.random(count)`` would, without making them.

    Why: dead leaves draw values a leaf never uses (a disc's angle, a flat leaf's second colour); jumping
    over them keeps every later draw's bits while only the work goes. PCG64 jumps in O(log count) and
    keeps its buffered half-word (``advance`` clears it, and ``integers`` reads it); other bit generators
    draw and drop.
    """
    if count <= 0:
        return
    bits = rng.bit_generator
    if not isinstance(bits, (np.random.PCG64, np.random.PCG64DXSM)):
        rng.random(count)
        return
    state = bits.state
    bits.advance(count)
    if state["has_uint32"]:  # advance() drops the half-word a previous 32-bit draw left for the next one
        bits.state = {**bits.state, "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}


def stream_seed(seed: int, *keys: Key) -> int:
    """An integer seed (< 2**32) for stream ``keys`` of run ``seed``, for ``torch.Generator.manual_seed``."""
    return int(np.random.SeedSequence(_entropy(seed, keys)).generate_state(1)[0])


def _entropy(seed: int, keys: tuple[Key, ...]) -> list[int]:
    values = [seed]
    for key in keys:
        if isinstance(key, str):  # a name: 32 bits of its hash, the same in every process
            values.append(int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little"))
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool) and key >= 0:
            values.append(int(key))
        else:
            raise ValueError(f"stream keys are names or non-negative integers, got {key!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return values
