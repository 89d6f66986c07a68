"""Constants shared by training and serving: the recs model's input contract in one place.

Changing any of these changes what a trained model means; the exporter writes them into
the version's metadata so a serving plugin can check it builds the tensors the model expects.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final[int] = 1

#: Hash buckets for user ids (salt ``USER_SALT``). Far more buckets than known users, so a
#: cold user usually lands in a bucket no training user touched and gets the popularity ranking.
N_USER_BUCKETS: Final[int] = 1 << 16
#: Hash buckets for item ids (salt ``ITEM_SALT``); sparse for the same reason.
N_ITEM_BUCKETS: Final[int] = 1 << 17
USER_SALT: Final[int] = 1
ITEM_SALT: Final[int] = 2

#: Vocabularies of ``context.device`` and ``context.surface`` (one-hot order).
DEVICES: Final[tuple[str, ...]] = ("ios", "android", "web", "tv")
SURFACES: Final[tuple[str, ...]] = ("home", "search", "item_page", "email")

#: Columns of the ``context`` tensor, in order.
CONTEXT_NAMES: Final[tuple[str, ...]] = (
    *(f"device_{d}" for d in DEVICES),
    *(f"surface_{s}" for s in SURFACES),
    "hour_sin",
    "hour_cos",
)

#: ``k`` of a request that has none (the recs.requests schema's default).
DEFAULT_K: Final[int] = 10
#: The recs.requests schema's hard ceiling on candidates per request.
MAX_CANDIDATES: Final[int] = 1000
