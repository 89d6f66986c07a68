"""Deterministic key sampling, decided from the raw record key before anything is decoded."""

from __future__ import annotations

import zlib

_BUCKETS = 1_000_000


class KeySampler:
    """Keeps a stable share of keys (entities: cards, users): the same key is always in or always out.

    Sampling by key rather than by record keeps every record of a sampled entity (its input, its
    score, its label) in the sample, so the join sees whole events, and costs one CRC32 per record.

    Args:
        rate: Share of keys kept, in (0, 1].
        salt: Distinguishes independent samples drawn from the same keys.
    """

    __slots__ = ("rate", "_salt", "_cut")

    def __init__(self, rate: float, salt: str) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], got {rate}")
        self.rate = rate
        self._salt = zlib.crc32(salt.encode())
        self._cut = int(rate * _BUCKETS)

    def keep(self, key: bytes | None) -> bool:
        """Whether records with this key are in the sample (records without a key never are, unless rate is 1)."""
        if self._cut >= _BUCKETS:
            return True
        if not key:
            return False
        return zlib.crc32(key, self._salt) % _BUCKETS < self._cut
