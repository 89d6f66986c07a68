"""River drift detectors by name, built from :class:`~engine.learn.settings.DetectorSpec`.

Only River's own classes are used, unchanged, so River's contract holds (``update()`` feeds one value and
returns what River returns — ``None`` in River 0.26 —, ``drift_detected`` says whether the last value
tripped it, ``clone()`` gives a fresh copy). Which direction of change deserves an alert is decided by
:class:`engine.learn.monitor.DriftMonitor`, not by wrapping the detector.

Costs per update on the 2-core box (STACK.md): ADWIN ≈ 0.6 µs, PageHinkley ≈ 1.4 µs, KSWIN ≈ 480 µs
(a scipy call per update — only for small samples, never the full stream).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from river import base, drift
from river.drift import binary

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.learn.settings import DetectorSpec

#: Configurable detectors: name in the YAML → River class.
DETECTORS: dict[str, type[base.DriftDetector] | type[base.BinaryDriftDetector]] = {
    "ADWIN": drift.ADWIN,
    "PageHinkley": drift.PageHinkley,
    "KSWIN": drift.KSWIN,
    "DDM": binary.DDM,
    "EDDM": binary.EDDM,
    "HDDM_A": binary.HDDMA,
    "HDDM_W": binary.HDDMW,
    "FHDDM": binary.FHDDM,
}


def is_binary(detector: Any) -> bool:
    """Whether the detector expects 0/1 input (an error indicator) rather than a real value."""
    return isinstance(detector, base.BinaryDriftDetector)


def intrinsic_direction(detector: Any) -> str:
    """The only direction a detector can report: ``increase`` for the error-rate detectors (DDM, EDDM,
    FHDDM, one-sided HDDM), PageHinkley's ``mode``, else ``both``."""
    if isinstance(detector, (binary.DDM, binary.EDDM, binary.FHDDM)):
        return "increase"
    if isinstance(detector, (binary.HDDMA, binary.HDDMW)):
        return "both" if detector.two_sided_test else "increase"
    if isinstance(detector, drift.PageHinkley):
        return {"up": "increase", "down": "decrease"}.get(detector.mode, "both")
    return "both"


def build_detector(spec: DetectorSpec) -> base.DriftDetector | base.BinaryDriftDetector:
    """A fresh River detector for ``spec``.

    Raises:
        ConfigError: If the parameters do not fit the class.
    """
    cls = DETECTORS[spec.kind]
    try:
        return cls(**spec.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"detector {spec.kind}: bad params {spec.params}: {exc}") from None


def detector_label(spec: DetectorSpec) -> str:
    """Short stable name for alerts and dedup keys, e.g. ``adwin`` or ``hddm_a``."""
    return spec.kind.lower()
