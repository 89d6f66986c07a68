"""One module per contender. Each holds the launcher (a :class:`Contender`) and, where the contender is
our own code, the loop its process runs (``python -m engine.bench.contenders.<name> <spec-json>``)."""

from __future__ import annotations

from engine.bench.contenders.base import Contender, RunSpec


def build_contenders(names: tuple[str, ...], workers: tuple[int, ...] = ()) -> list[Contender]:
    """Launchers for ``names`` (see :data:`engine.bench.settings.ALL_CONTENDERS`), plus one exactly-once
    engine row per worker count in ``workers``, in table order."""
    from engine.bench.contenders.engine import EngineContender
    from engine.bench.contenders.faust_agent import FaustContender
    from engine.bench.contenders.kafka_ceiling import KafkaCeiling
    from engine.bench.contenders.naive import NaiveContender
    from engine.bench.contenders.triton_ceiling import TritonCeiling

    factories = {
        "kafka_ceiling": KafkaCeiling,
        "triton_ceiling": TritonCeiling,
        "engine_eos": lambda: EngineContender(exactly_once=True),
        "engine_alo": lambda: EngineContender(exactly_once=False),
        "naive": NaiveContender,
        "faust": FaustContender,
    }
    out: list[Contender] = [factories[name]() for name in names]
    out += [EngineContender(exactly_once=True, workers=n) for n in workers]
    return out


__all__ = ["Contender", "RunSpec", "build_contenders"]
