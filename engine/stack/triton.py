"""NVIDIA Triton Inference Server from the ``tritonserver`` binary inside the nvidia-pytriton wheel.

Only the binary, the python backend and the 3.11 stub are used: the wheel is fetched *without* its
dependencies (it pins numpy<2, river needs numpy 2) and unpacked into the cache.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from engine.errors import StackError
from engine.stack.processes import ManagedProcess
from engine.stack.settings import StackSettings

#: Environment variable the generated python-backend model.py reads to find torch and numpy:
#: the stub's embedded interpreter ignores PYTHONPATH, so the path is handed over explicitly.
SITE_PACKAGES_ENV = "STREAMINFER_TRITON_SITE_PACKAGES"


class TritonInstaller:
    """Downloads the nvidia-pytriton wheel once and lays out a backend directory with the 3.11 stub."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.root = settings.cache_dir / "triton" / settings.pytriton_version
        self.server_dir = self.root / "pytriton" / "tritonserver"
        self.binary = self.server_dir / "bin" / "tritonserver"
        self.backend_dir = self.server_dir / "backends"

    def installed(self) -> bool:
        """True when the unpacked server is in the cache."""
        return (self.root / ".complete").exists()

    def install(self) -> Path:
        """Fetch and unpack (once); return the ``tritonserver`` binary path."""
        if self.installed():
            return self.binary
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="triton-", dir=self.root.parent))
        try:
            wheel = self._download(staging)
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(staging / "tree")
            wheel.unlink()
            tree = staging / "tree"
            server = tree / "pytriton" / "tritonserver"
            pyver = f"{sys.version_info.major}.{sys.version_info.minor}"
            stub = server / "python_backend_stubs" / pyver / "triton_python_backend_stub"
            if not stub.exists():
                raise StackError(f"triton: the wheel has no python backend stub for Python {pyver}")
            # Same directory depth as python_backend_stubs/<ver>/, so the stub's relative RPATH to
            # nvidia_pytriton.libs still resolves.
            shutil.copy2(stub, server / "backends" / "python" / "triton_python_backend_stub")
            # zipfile drops the exec bits.
            for exe in (server / "bin" / "tritonserver", server / "backends" / "python" / "triton_python_backend_stub"):
                exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            (tree / ".complete").write_text(self.settings.pytriton_version)
            if self.root.exists():
                shutil.rmtree(self.root)
            tree.rename(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.binary

    def _download(self, dest: Path) -> Path:
        spec = f"nvidia-pytriton=={self.settings.pytriton_version}"
        result = subprocess.run(
            [_python_with_pip(), "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
             "-d", str(dest), spec],
            capture_output=True, text=True, timeout=900,
        )
        wheels = list(dest.glob("nvidia_pytriton-*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stdout + result.stderr).strip().splitlines()[-2:]
            raise StackError(
                f"triton: could not download {spec} from PyPI ({' | '.join(detail)}); "
                "check network access to the registry and retry"
            )
        return wheels[0]


class TritonServer:
    """One tritonserver process on loopback, explicit model control, CPU, python backend."""

    def __init__(self, settings: StackSettings, installer: TritonInstaller | None = None) -> None:
        self.settings = settings
        self.installer = installer or TritonInstaller(settings)
        self.home = settings.home / "triton"
        self.process = ManagedProcess(
            name="triton", pid_file=settings.home / "triton.pid", log_file=self.home / "triton.log",
            marker=f"--model-repository={settings.model_repository}",
        )

    def start(self) -> int:
        """Start tritonserver against the stack's model repository; every model found there is loaded."""
        s = self.settings
        self.home.mkdir(parents=True, exist_ok=True)
        s.model_repository.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.installer.binary),
            f"--model-repository={s.model_repository}",
            f"--backend-directory={self.installer.backend_dir}",
            # explicit: the engine loads/unloads versions through the API (canary, rollback)
            "--model-control-mode=explicit", "--load-model=*",
            "--strict-model-config=false",
            # A broken model must not stop the server: it is reported per model instead.
            "--exit-on-error=false",
            # Ready = the server answers. Strict readiness would report the whole server not ready
            # while any version is UNAVAILABLE (a candidate that failed to load stays in the index),
            # and the champion's workers would treat a healthy champion as an outage; the engine asks
            # for the version it serves instead (engine.stack.health.triton_model_ready).
            "--strict-readiness=false",
            f"--http-address={s.host}", f"--http-port={s.triton_http_port}",
            f"--grpc-address={s.host}", f"--grpc-port={s.triton_grpc_port}",
            f"--metrics-address={s.host}", f"--metrics-port={s.triton_metrics_port}",
            "--allow-metrics=true", "--allow-gpu-metrics=false",
            "--exit-timeout-secs=5", "--log-verbose=0",
        ]
        return self.process.start(argv, env=self._env(), cwd=self.home)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The interpreter's own libpython first: Debian's 3.11.2 would mix versions in the stub.
        libdirs = [str(self.settings.python_libdir)]
        if env.get("LD_LIBRARY_PATH"):
            libdirs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libdirs)
        env[SITE_PACKAGES_ENV] = str(self.settings.python_site_packages)
        env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def version(self) -> str:
        """The pytriton wheel version that carries this server (Triton's own version is in its log)."""
        return f"nvidia-pytriton {self.settings.pytriton_version}"


def _python_with_pip() -> str:
    """An interpreter that has pip: this one, or the base interpreter a uv-made venv came from."""
    import importlib.util

    if importlib.util.find_spec("pip") is not None:
        return sys.executable
    return getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
