"""Facts about the machine and software a benchmark ran on, recorded with every run."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from engine.bench.settings import BenchTarget
from engine.paths import REPO_ROOT
from engine.stack.health import triton_server_metadata

_PACKAGES = ("confluent-kafka", "tritonclient", "faust-streaming", "aiokafka", "numpy", "torch", "orjson", "grpcio")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    except OSError:
        match = None
    return match.group(1).strip() if match else (platform.processor() or "unknown")


def triton_instances(model_repository: Path | None, model: str) -> int | None:
    """Instance count of ``model`` from its config.pbtxt in a local repository (None if unknown)."""
    if model_repository is None:
        return None
    try:
        text = (model_repository / model / "config.pbtxt").read_text()
    except OSError:
        return None
    counts = [int(n) for n in re.findall(r"count\s*:\s*(\d+)", text)]
    return sum(counts) if counts else 1


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    try:
        import confluent_kafka

        versions["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass
    return versions


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() + ("-dirty" if dirty else "")


def machine_facts(target: BenchTarget) -> dict[str, Any]:
    """Cores, CPU model, memory, load, versions and the stack's resource settings.

    Args:
        target: The servers benchmarked (Triton is asked for its version).

    Returns:
        A JSON-ready mapping.
    """
    load1, load5, load15 = os.getloadavg()
    triton = triton_server_metadata(target.triton_http_url)
    return {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "versions": _versions(),
        "git_commit": _git_commit(),
        "kafka": {"bootstrap": target.bootstrap, **{k: v for k, v in target.stack_facts.items()
                                                    if k.startswith("kafka")}},
        "triton": {"url": target.triton_url, "version": triton.get("version"),
                   "pytriton": target.stack_facts.get("pytriton_version"),
                   "model_instances": triton_instances(target.model_repository, target.model_name),
                   "device": "CPU"},
        "note": ("Kafka, Triton, the contender and the load generator share these cores; the JVM heap and "
                 "Triton's instance count are as listed. Figures from a shared box are noisy: compare "
                 "ratios from one run, not absolute numbers across runs."),
    }
