"""Readiness probes that answer quickly and never hang: Kafka metadata, Triton /v2/health/ready."""

from __future__ import annotations

import urllib.error
import urllib.request

import orjson


def kafka_ready(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when the broker answers a metadata request and has a controller."""
    from confluent_kafka.admin import AdminClient  # imported lazily: the CLI starts faster

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout_s * 1000),
                         "log_level": 0, "logger": _silent_logger()})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception:  # noqa: BLE001 — any failure means "not ready yet"
        return False
    return bool(metadata.brokers)


def triton_ready(http_url: str, timeout_s: float = 2.0) -> bool:
    """True when Triton's HTTP endpoint says the server is ready."""
    try:
        with urllib.request.urlopen(f"http://{http_url}/v2/health/ready", timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def triton_model_ready(http_url: str, model: str, version: str = "", timeout_s: float = 2.0) -> bool:
    """True when Triton says ``model`` (``version``; '' = its default version) is ready to serve."""
    from urllib.parse import quote

    path = f"/v2/models/{quote(model, safe='')}" + (f"/versions/{quote(version, safe='')}" if version else "")
    try:
        with urllib.request.urlopen(f"http://{http_url}{path}/ready", timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def triton_server_metadata(http_url: str, timeout_s: float = 2.0) -> dict:
    """Triton's ``/v2`` metadata (name, version, extensions), or {} when unreachable."""
    try:
        with urllib.request.urlopen(f"http://{http_url}/v2", timeout=timeout_s) as response:
            return orjson.loads(response.read())
    except (urllib.error.URLError, OSError, TimeoutError, orjson.JSONDecodeError):
        return {}


def _silent_logger():
    import logging

    logger = logging.getLogger("streaminfer.stack.probe")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger
