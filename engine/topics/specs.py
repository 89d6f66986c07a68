"""Topic specifications (``topics/topics.yaml``) loaded into validated, immutable objects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import ConfigError
from engine.topics.config_keys import check_topic_config
from engine.topics.metaschema import check_json_schema

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parents[2] / "topics" / "topics.yaml"

# Kafka's own rule: at most 249 characters of [a-zA-Z0-9._-], and not "." or "..".
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


class TopicSpec(BaseModel):
    """Desired state of one topic.

    Attributes:
        name: Topic name.
        description: What flows through the topic, for humans.
        partitions: Partition count; it can only ever grow on a live topic.
        replication_factor: Copies of each partition.
        schema_file: JSON Schema of the record values, relative to the catalog file.
        config: Topic-level broker configs (``retention.ms``...), values as Kafka text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = Field(min_length=1)
    partitions: int = Field(gt=0)
    replication_factor: int = Field(gt=0)
    schema_file: str = Field(min_length=1)
    config: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _kafka_topic_name(cls, name: str) -> str:
        if not _TOPIC_NAME.match(name) or name in (".", ".."):
            raise ValueError("must be 1-249 characters of a-z A-Z 0-9 . _ - (and not . or ..)")
        return name

    @field_validator("config", mode="before")
    @classmethod
    def _config_as_kafka_text(cls, config: Any) -> Any:
        # YAML turns 604800000 into an int and true into a bool; Kafka wants text ("true").
        if not isinstance(config, Mapping):
            return config
        return {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in config.items()
        }

    @field_validator("config")
    @classmethod
    def _known_keys_and_values(cls, config: dict[str, str]) -> dict[str, str]:
        for key, value in config.items():
            check_topic_config(key, value)
        return config

    def broker_config(self) -> dict[str, str]:
        """The configs to set on the broker for this spec.

        ``min.insync.replicas`` is capped at the replication factor: a topic whose minimum is
        above its replica count refuses every ``acks=all`` write.

        Returns:
            Config key to Kafka text.
        """
        config = dict(self.config)
        min_isr = config.get("min.insync.replicas")
        if min_isr is not None and int(min_isr) > self.replication_factor:
            config["min.insync.replicas"] = str(self.replication_factor)
        return config

    def with_replication_factor(self, replication_factor: int) -> TopicSpec:
        """The same spec with another replication factor (e.g. 3 in production).

        Raises:
            ConfigError: If ``replication_factor`` is below 1.
        """
        if replication_factor < 1:
            raise ConfigError(f"replication factor must be >= 1, got {replication_factor}")
        return self.model_copy(update={"replication_factor": replication_factor})


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topics: list[TopicSpec] = Field(min_length=1)


class TopicCatalog:
    """Every topic the engine uses, loaded from ``topics/topics.yaml``.

    Args:
        specs: The topic specs, names unique.
        base_dir: Directory that ``schema_file`` paths are relative to.
    """

    def __init__(self, specs: tuple[TopicSpec, ...], base_dir: Path) -> None:
        self.specs = specs
        self.base_dir = base_dir
        self._by_name = {spec.name: spec for spec in specs}

    @classmethod
    def load(cls, path: Path | str = DEFAULT_CATALOG_PATH) -> TopicCatalog:
        """Load and validate a catalog file, including each topic's JSON Schema.

        Args:
            path: The YAML catalog.

        Returns:
            The catalog.

        Raises:
            ConfigError: If the file is missing or not YAML, a key is unknown, a value is out of
                range, two topics share a name, or a schema file is missing or not a valid
                draft-07 JSON Schema. The message names the file, topic and field.
        """
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"{path}: cannot read topic catalog: {error.strerror}") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from error
        try:
            parsed = _CatalogFile.model_validate(raw)
        except ValidationError as error:
            raise ConfigError(_describe_validation_error(path, raw, error)) from None
        catalog = cls(tuple(parsed.topics), path.parent)
        seen: set[str] = set()
        for spec in catalog.specs:
            if spec.name in seen:
                raise ConfigError(f"{path}: topic {spec.name!r} is declared twice")
            seen.add(spec.name)
            catalog.load_schema(spec)  # fail at load time, not at first use
        return catalog

    def load_schema(self, spec: TopicSpec) -> dict[str, Any]:
        """Read one topic's JSON Schema and check it against the draft-07 meta-schema.

        Raises:
            ConfigError: If the file is missing, not JSON, or not a valid draft-07 schema.
        """
        schema = self.read_schema(spec)
        problem = check_json_schema(schema)
        if problem:
            raise ConfigError(
                f"topic {spec.name!r}: schema_file {spec.schema_file!r}: "
                f"not a valid draft-07 JSON Schema: {problem}"
            )
        return schema

    def read_schema(self, spec: TopicSpec) -> dict[str, Any]:
        """Read one topic's JSON Schema without checking it (the catalog checked it at load).

        Raises:
            ConfigError: If the file is missing or not JSON.
        """
        schema_path = self.base_dir / spec.schema_file
        where = f"topic {spec.name!r}: schema_file {spec.schema_file!r}"
        try:
            return json.loads(schema_path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"{where}: cannot read {schema_path}: {error.strerror}") from error
        except ValueError as error:
            raise ConfigError(f"{where}: not valid JSON: {error}") from error

    def spec(self, name: str) -> TopicSpec:
        """The spec of one topic.

        Raises:
            KeyError: If the catalog has no such topic.
        """
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        """Topic names, in catalog order."""
        return [spec.name for spec in self.specs]

    def with_name_prefix(self, prefix: str) -> TopicCatalog:
        """The same topics under prefixed names, e.g. one namespace per test run.

        Raises:
            ConfigError: If a prefixed name is not a valid topic name.
        """
        try:
            specs = tuple(
                TopicSpec.model_validate({**spec.model_dump(), "name": prefix + spec.name})
                for spec in self.specs
            )
        except ValidationError as error:
            raise ConfigError(f"topic name prefix {prefix!r}: {error.errors()[0]['msg']}") from None
        return TopicCatalog(specs, self.base_dir)

    def with_replication_factor(self, replication_factor: int) -> TopicCatalog:
        """The same topics with one replication factor for all (production: 3)."""
        specs = tuple(spec.with_replication_factor(replication_factor) for spec in self.specs)
        return TopicCatalog(specs, self.base_dir)

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)


def _describe_validation_error(path: Path, raw: Any, error: ValidationError) -> str:
    """One line per problem, naming the topic (not just its list index) and the field."""
    lines = []
    for problem in error.errors():
        location = list(problem["loc"])
        where = "key " + repr(".".join(str(part) for part in location)) if location else "file"
        if len(location) >= 2 and location[0] == "topics" and isinstance(location[1], int):
            entry = raw["topics"][location[1]] if isinstance(raw, dict) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            field = ".".join(str(part) for part in location[2:]) or "(entry)"
            where = f"topic {name!r}: field {field!r}" if name else f"topics[{location[1]}].{field}"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}: {message}")
    return f"{path}: invalid topic catalog: " + "; ".join(lines)
