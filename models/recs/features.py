"""Request events -> the ranker's input tensors; the one function training and serving share.

The serving plugin calls :func:`request_tensors` on each micro-batch of validated
recs.requests events and training calls it on the logged requests, so the two cannot
disagree about hashing, de-duplication or context encoding.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

from models.recs.constants import (
    DEVICES,
    ITEM_SALT,
    N_ITEM_BUCKETS,
    N_USER_BUCKETS,
    SURFACES,
    USER_SALT,
)
from models.recs.hashing import bucket_ids

_DEVICE_CODE = {name: i for i, name in enumerate(DEVICES)}
_SURFACE_CODE = {name: i for i, name in enumerate(SURFACES)}
# One-hot lookup tables with an extra all-zero row for a value outside the vocabulary.
_DEVICE_ONE_HOT = np.vstack((np.eye(len(DEVICES), dtype=np.float32), np.zeros(len(DEVICES), np.float32)))
_SURFACE_ONE_HOT = np.vstack((np.eye(len(SURFACES), dtype=np.float32), np.zeros(len(SURFACES), np.float32)))


def context_matrix(events: list[dict[str, Any]]) -> np.ndarray:
    """Context features of each request, float32 [len(events), len(CONTEXT_NAMES)].

    Device and surface are one-hot (an unknown value is all zeros, i.e. "average"), and
    the local hour goes on the unit circle so 23:00 sits next to 00:00.
    """
    contexts = [event["context"] for event in events]
    device = np.fromiter((_DEVICE_CODE.get(c["device"], len(DEVICES)) for c in contexts), np.int64, len(contexts))
    surface = np.fromiter((_SURFACE_CODE.get(c["surface"], len(SURFACES)) for c in contexts), np.int64,
                          len(contexts))
    angle = np.fromiter((c["hour"] for c in contexts), np.float64, len(contexts)) * (2 * np.pi / 24)
    matrix = np.hstack((
        _DEVICE_ONE_HOT[device],
        _SURFACE_ONE_HOT[surface],
        np.sin(angle, dtype=np.float64)[:, None].astype(np.float32),
        np.cos(angle, dtype=np.float64)[:, None].astype(np.float32),
    ))
    return matrix


def request_tensors(events: list[dict[str, Any]],
                    max_candidates: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Build the ranker's inputs for a batch of requests, one row per distinct candidate.

    Each request's candidates are de-duplicated keeping the first occurrence, then all
    requests are flattened into rows R; request ``r`` owns rows ``offsets[r]:offsets[r+1]``.

    Args:
        events: Validated recs.requests events.
        max_candidates: Most distinct candidates a request may have.

    Returns:
        ``inputs``: ``user_bucket`` int64 [R, 1], ``item_bucket`` int64 [R, 1] and
        ``context`` float32 [R, C] (the model's positional inputs, in that order);
        ``offsets``: int64 [len(events) + 1]; ``item_ids``: str array [R], the id of each row.

    Raises:
        ValueError: If a request has more than ``max_candidates`` distinct candidates.
    """
    distinct = [list(dict.fromkeys(event["candidates"])) for event in events]
    counts = np.fromiter(map(len, distinct), np.int64, len(distinct))
    too_long = np.flatnonzero(counts > max_candidates)
    if too_long.size:
        first = int(too_long[0])
        raise ValueError(f"request {events[first].get('request_id')!r} has {counts[first]} distinct candidates, "
                         f"more than max_candidates={max_candidates}")
    offsets = np.zeros(len(events) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    item_ids = np.asarray(list(chain.from_iterable(distinct)), dtype=np.str_)
    # Hash each user once per request, then repeat: cheaper than hashing every row.
    users = bucket_ids([event["user_id"] for event in events], N_USER_BUCKETS, salt=USER_SALT)
    inputs = {
        "user_bucket": np.repeat(users, counts).reshape(-1, 1),
        "item_bucket": bucket_ids(item_ids, N_ITEM_BUCKETS, salt=ITEM_SALT).reshape(-1, 1),
        "context": np.repeat(context_matrix(events), counts, axis=0),
    }
    return inputs, offsets, item_ids
