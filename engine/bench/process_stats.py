"""CPU-seconds and memory of a contender's process tree (psutil), and of the servers it leans on."""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class TreeSample:
    """One look at a process tree.

    Attributes:
        cpu_s: User + system CPU-seconds of every process in the tree so far (exited children
            keep their last known value).
        rss_mb: Resident memory of the whole tree, MiB.
        max_process_rss_mb: Resident memory of the largest single process, MiB (per-worker figure).
    """

    cpu_s: float
    rss_mb: float
    max_process_rss_mb: float


class ProcessTreeSampler:
    """Samples a root process and all its descendants.

    Args:
        root_pid: The contender's process (a supervisor's children are included).
    """

    def __init__(self, root_pid: int) -> None:
        self._root = psutil.Process(root_pid)
        self._cpu: dict[int, float] = {}
        self.peak_rss_mb = 0.0
        self.peak_process_rss_mb = 0.0

    def sample(self) -> TreeSample:
        """CPU and memory now; updates the peaks."""
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            processes = []
        rss_total = rss_max = 0.0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss = process.memory_info().rss / 2**20
            except psutil.Error:
                continue  # exited between listing and reading: its last CPU value stays counted
            # Own time only: descendants are counted directly (children_* would count them twice).
            self._cpu[process.pid] = times.user + times.system
            rss_total += rss
            rss_max = max(rss_max, rss)
        self.peak_rss_mb = max(self.peak_rss_mb, rss_total)
        self.peak_process_rss_mb = max(self.peak_process_rss_mb, rss_max)
        return TreeSample(sum(self._cpu.values()), rss_total, rss_max)


class ServerCpu:
    """CPU-seconds of the processes listening on the given local ports (the Kafka broker, Triton).

    Their CPU is not the contender's, but on a shared box it is the other half of the cost: a
    contender that makes Triton or the broker work harder shows it here.

    Args:
        ports: TCP ports the servers listen on.
    """

    def __init__(self, ports: dict[str, int]) -> None:
        self.processes: dict[str, psutil.Process] = {}
        try:
            connections = psutil.net_connections(kind="tcp")
        except (psutil.AccessDenied, OSError):
            connections = []
        by_port = {c.laddr.port: c.pid for c in connections if c.status == psutil.CONN_LISTEN and c.pid}
        for name, port in ports.items():
            pid = by_port.get(port)
            if pid:
                try:
                    self.processes[name] = psutil.Process(pid)
                except psutil.Error:
                    pass

    def cpu_s(self) -> dict[str, float]:
        """CPU-seconds so far of each server found, its child processes included (Triton runs the
        python backend in a stub process)."""
        out = {}
        for name, process in self.processes.items():
            try:
                tree = [process, *process.children(recursive=True)]
            except psutil.Error:
                continue
            total = 0.0
            for member in tree:
                try:
                    times = member.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
            out[name] = total
        return out
