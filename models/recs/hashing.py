"""Stable, vectorised hashing of string ids into buckets (training and serving share it).

Python's ``hash()`` is salted per process, so it cannot map an id to the same embedding
row at training time and on the serving hot path. This is 64-bit FNV-1a over Unicode
code points, run over the *columns* of a fixed-width numpy string array (at most
max-length iterations, never one per id), then a splitmix64 finaliser.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: spreads every input bit over the whole 64-bit output.

    Args:
        values: uint64 array.

    Returns:
        Mixed uint64 array of the same shape.
    """
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps on purpose
        z = values + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX_1
        z = (z ^ (z >> np.uint64(27))) * _MIX_2
        return z ^ (z >> np.uint64(31))


def hash_ids(ids: Sequence[str] | np.ndarray, salt: int = 0) -> np.ndarray:
    """64-bit hashes of string ids, identical in every process and for every array width.

    Args:
        ids: A 1-D sequence or array of strings.
        salt: Selects an independent hash function (e.g. one per id kind).

    Returns:
        uint64 array, one hash per id.
    """
    strings = np.asarray(ids, dtype=np.str_)
    if strings.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {strings.shape}")
    if strings.dtype.byteorder == ">":  # a big-endian array would view as other code points
        strings = strings.astype(strings.dtype.newbyteorder("="))
    seed = splitmix64(np.array([salt & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    hashes = np.full(strings.shape[0], _FNV_OFFSET ^ seed, dtype=np.uint64)
    if strings.size == 0:
        return hashes
    width = strings.dtype.itemsize // 4
    # Column-major copy: each step of the loop below then reads one contiguous column.
    code_points = np.ascontiguousarray(strings).view(np.uint32).reshape(-1, width).T.astype(np.uint64)
    lengths = np.char.str_len(strings)
    with np.errstate(over="ignore"):
        for column in range(int(lengths.max())):
            # Padding beyond a string's end must not count, or "a" would hash differently
            # next to a long id (a wider array) than on its own.
            active = lengths > column
            hashes = np.where(active, (hashes ^ code_points[column]) * _FNV_PRIME, hashes)
    return splitmix64(hashes)


def bucket_ids(ids: Sequence[str] | np.ndarray, n_buckets: int, salt: int = 0) -> np.ndarray:
    """Map string ids to buckets ``0 .. n_buckets - 1``, stably and without a per-id loop.

    Args:
        ids: A 1-D sequence or array of strings (any Unicode).
        n_buckets: Number of buckets (>= 1).
        salt: Selects an independent hash function; training and serving must agree on it.

    Returns:
        int64 bucket per id (an empty array for empty input).
    """
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    return (hash_ids(ids, salt) % np.uint64(n_buckets)).astype(np.int64)
