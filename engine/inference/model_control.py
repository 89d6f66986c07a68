"""Explicit model control against Triton's HTTP API: load, unload, which versions are ready."""

from __future__ import annotations

from pathlib import Path

import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from engine.errors import ModelRepositoryError, StackUnavailableError


class ModelControl:
    """Loads and inspects models on a Triton server started with ``--model-control-mode=explicit``."""

    def __init__(self, http_url: str, timeout_s: float = 120.0) -> None:
        self.http_url = http_url
        self._client = httpclient.InferenceServerClient(http_url, connection_timeout=timeout_s,
                                                        network_timeout=timeout_s)

    @staticmethod
    def versions_on_disk(repository: Path, name: str) -> list[int]:
        """Numeric version directories of ``name`` in the repository, ascending."""
        model_dir = repository / name
        if not model_dir.is_dir():
            return []
        return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())

    def load(self, name: str) -> None:
        """(Re)load ``name``: Triton re-reads config.pbtxt and every version the policy selects."""
        self._load_model(name, f"Triton refused to load {name!r}")

    def _load_model(self, name: str, refused: str, config: str | None = None) -> None:
        """``load_model`` with its failures as the project's errors (``refused``: the message's start)."""
        try:
            self._client.load_model(name, config=config)
        except InferenceServerException as exc:
            text = str(exc)
            if "connect" in text.lower() or "refused" in text.lower():
                raise StackUnavailableError(f"Triton not reachable at {self.http_url}; run `streaminfer stack up`") from None
            raise ModelRepositoryError(f"{refused}: {text}") from None
        except OSError as exc:
            raise StackUnavailableError(f"Triton not reachable at {self.http_url} ({exc}); run `streaminfer stack up`") from None

    def load_versions(self, name: str, versions: list[str]) -> None:
        """Load exactly ``versions`` of ``name`` (``version_policy: specific``), other versions unloaded.

        Triton loads new versions beside the ones already serving and switches only when they are
        ready; a version that fails to load leaves the others serving. ModelRepositoryError says why
        (Triton's own reason per version).
        """
        import json

        config = self._loaded_config(name)
        if config is None:
            # An override replaces config.pbtxt whole, so a model Triton never loaded is loaded as
            # its repository says first (some versions may fail: the override below settles them).
            try:
                self.load(name)
            except ModelRepositoryError:
                pass
            config = self._loaded_config(name)
        if config is None:
            raise ModelRepositoryError(f"Triton could not load model {name!r} at all: "
                                       f"{self.version_states(name) or 'it is not in the repository'}")
        override = {**config, "version_policy": {"specific": {"versions": sorted({int(v) for v in versions})}}}
        self._load_model(name, f"Triton could not load {name!r} versions {versions}", json.dumps(override))

    def _loaded_config(self, name: str) -> dict | None:
        try:
            config = self._client.get_model_config(name)
        except InferenceServerException:
            return None  # not loaded
        except OSError as exc:
            raise StackUnavailableError(f"Triton not reachable at {self.http_url} ({exc}); run `streaminfer stack up`") from None
        return config if isinstance(config, dict) and config else None

    def version_states(self, name: str) -> dict[str, tuple[str, str]]:
        """Version → (state, reason) of ``name`` as Triton's repository index reports them."""
        try:
            index = self._client.get_model_repository_index()
        except (InferenceServerException, OSError):
            return {}
        return {m.get("version", ""): (m.get("state", ""), m.get("reason", "")) for m in index
                if m.get("name") == name and m.get("version")}

    def unload(self, name: str) -> None:
        """Unload every version of ``name``."""
        self._client.unload_model(name)

    def max_batch_size(self, name: str) -> int | None:
        """``max_batch_size`` of ``name``'s loaded config (0: no batch dimension), None if Triton cannot say."""
        try:
            config = self._client.get_model_config(name)
        except (InferenceServerException, OSError):
            return None
        value = config.get("max_batch_size") if isinstance(config, dict) else None
        return int(value) if value is not None else None

    def ready_versions(self, name: str) -> list[str]:
        """Versions of ``name`` Triton reports READY."""
        try:
            index = self._client.get_model_repository_index()
        except (InferenceServerException, OSError):
            return []
        return sorted((m.get("version", "") for m in index if m.get("name") == name and m.get("state") == "READY"),
                      key=lambda v: int(v) if v.isdigit() else -1)
