"""Sealed state: HMAC round trip, tamper refusal before any unpickling, key files, restore statuses."""

from __future__ import annotations

import os
import pickle
import stat

import pytest

from engine.learn.state import StateIntegrityError, load_or_create_key, seal, unseal

KEY = b"k" * 32
EXECUTED: list[str] = []


class Bomb:
    """Unpickling this runs code: the reason blobs must be authenticated first."""

    def __reduce__(self):
        return (EXECUTED.append, ("unpickled!",))


def test_round_trip():
    state = {"weights": [0.1, 0.2], "n": 7}
    assert unseal(seal(state, KEY, "shadow"), KEY, "shadow") == state


@pytest.mark.parametrize("tamper", [
    lambda b: b[:-1] + bytes([b[-1] ^ 1]),            # payload bit flip
    lambda b: b[:10] + bytes([b[10] ^ 1]) + b[11:],   # MAC bit flip
    lambda b: b[:20],                                 # truncated
    lambda b: b"XXXX" + b[4:],                        # not our envelope
    lambda b: b"",                                    # empty
])
def test_tampered_blobs_are_refused_without_unpickling(tamper):
    EXECUTED.clear()
    blob = seal(Bomb(), KEY, "shadow")
    with pytest.raises(StateIntegrityError):
        unseal(tamper(blob), KEY, "shadow")
    assert EXECUTED == []


def test_a_blob_forged_with_another_key_is_refused():
    EXECUTED.clear()
    forged = seal(Bomb(), b"attacker-key-0123456789", "shadow")
    with pytest.raises(StateIntegrityError, match="HMAC"):
        unseal(forged, KEY, "shadow")
    assert EXECUTED == []


def test_a_valid_blob_of_one_component_cannot_pose_as_another():
    blob = seal({"x": 1}, KEY, "alerts")
    with pytest.raises(StateIntegrityError):
        unseal(blob, KEY, "shadow")


def test_a_raw_pickle_is_refused():
    with pytest.raises(StateIntegrityError):
        unseal(pickle.dumps(Bomb()), KEY, "shadow")


def test_generated_key_file_is_private_and_reused(tmp_path):
    path = tmp_path / "sub" / "state.key"
    key = load_or_create_key(None, path)
    assert len(key) == 64 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(None, path) == key
    assert load_or_create_key(b"configured-key-xyz", path) == b"configured-key-xyz"
