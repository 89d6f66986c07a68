"""Topic administration on a live broker, with a timeout on every call.

One job: turn AdminClient's futures and KafkaErrors into :class:`TopicState` values and
streaminfer errors. Deciding *what* to change is :mod:`engine.topics.plan`'s job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from engine.errors import StackUnavailableError, TopicAdminError
from engine.topics.config_keys import normalize_config_value
from engine.topics.plan import TopicState
from engine.topics.specs import TopicSpec

_log = logging.getLogger(__name__)

# librdkafka codes that mean "no broker answered", as opposed to "a broker said no".
_UNREACHABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
    }
)
_POLL_INTERVAL_S = 0.1


class TopicAdmin:
    """Reads and changes topics on one Kafka cluster.

    Args:
        bootstrap: ``host:port`` of a broker.
        timeout_s: Limit for every single broker call, and for waiting until a change is
            visible in metadata.
        admin_factory: Builds the AdminClient from its config (tests can pass a fake).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        timeout_s: float = 10.0,
        admin_factory: Callable[[dict[str, Any]], Any] = AdminClient,
    ) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self._admin = admin_factory(
            {
                "bootstrap.servers": bootstrap,
                "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
                # librdkafka logs connection failures to stderr; send them to Python logging.
                "logger": _log,
            }
        )

    def describe(self, names: Iterable[str]) -> dict[str, TopicState]:
        """Current state of the given topics; topics that do not exist are left out.

        Raises:
            StackUnavailableError: If no broker answers within the timeout.
            TopicAdminError: If the broker refuses to describe a topic.
        """
        metadata = self._metadata()
        present = [name for name in names if name in metadata.topics]
        if not present:
            return {}
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in present]
        futures = self._admin.describe_configs(resources, request_timeout=self.timeout_s)
        states = {}
        for resource, future in futures.items():
            entries: Mapping[str, ConfigEntry] = self._result(
                future, "describe configs of", resource.name
            )
            partitions = metadata.topics[resource.name].partitions.values()
            states[resource.name] = TopicState(
                name=resource.name,
                partitions=len(partitions),
                replication_factor=min((len(p.replicas) for p in partitions), default=0),
                config={
                    key: entry.value for key, entry in entries.items() if entry.value is not None
                },
                overrides={
                    key: entry.value
                    for key, entry in entries.items()
                    if entry.value is not None
                    and int(entry.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
                },
            )
        return states

    def create(self, spec: TopicSpec) -> None:
        """Create a topic and wait until the broker's metadata shows all its partitions.

        Raises:
            StackUnavailableError: If no broker answers within the timeout.
            TopicAdminError: If the broker refuses (e.g. an invalid config value).
        """
        topic = NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor,
            config=spec.broker_config(),
        )
        futures = self._admin.create_topics(
            [topic], operation_timeout=self.timeout_s, request_timeout=self.timeout_s
        )
        try:
            self._result(futures[spec.name], "create topic", spec.name)
        except TopicAdminError as error:
            # Someone (a concurrent apply) created it first: same end state, carry on.
            if error.kafka_code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        self._wait_for_partitions(spec.name, spec.partitions)

    def add_partitions(self, name: str, total: int) -> None:
        """Raise a topic's partition count to ``total`` and wait until it is visible.

        Raises:
            StackUnavailableError: If no broker answers within the timeout.
            TopicAdminError: If the broker refuses.
        """
        futures = self._admin.create_partitions(
            [NewPartitions(name, total)],
            operation_timeout=self.timeout_s,
            request_timeout=self.timeout_s,
        )
        self._result(futures[name], "add partitions to", name)
        self._wait_for_partitions(name, total)

    def set_configs(self, name: str, values: Mapping[str, str]) -> None:
        """Set topic configs, leaving every other config as it is.

        Raises:
            StackUnavailableError: If no broker answers within the timeout.
            TopicAdminError: If the broker refuses (e.g. an invalid value).
        """
        resource = ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in values.items()
            ],
        )
        futures = self._admin.incremental_alter_configs([resource], request_timeout=self.timeout_s)
        for future in futures.values():
            self._result(future, "alter configs of", name)
        self._wait_for_configs(name, values)

    def _metadata(self, topic: str | None = None) -> Any:
        try:
            return self._admin.list_topics(topic=topic, timeout=self.timeout_s)
        except KafkaException as error:
            raise self._translate(error, "list topics", "") from None

    def _wait_for_partitions(self, name: str, partitions: int) -> None:
        # Create/alter return once the controller committed the change; the broker we ask
        # learns about it moments later. Waiting here makes "apply returned" mean "usable".
        deadline = time.monotonic() + self.timeout_s
        while True:
            topic = self._metadata(name).topics.get(name)
            if (
                topic is not None
                and topic.error is None
                and len(topic.partitions) >= partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            ):
                return
            if time.monotonic() >= deadline:
                raise TopicAdminError(
                    f"topic {name!r} on {self.bootstrap} did not show {partitions} partitions "
                    f"with leaders within {self.timeout_s:g}s"
                )
            time.sleep(_POLL_INTERVAL_S)

    def _wait_for_configs(self, name: str, values: Mapping[str, str]) -> None:
        # Same reason as above: the controller has the new values, the broker we describe
        # configs on applies them from the metadata log a moment later.
        deadline = time.monotonic() + self.timeout_s
        resource = ConfigResource(ResourceType.TOPIC, name)
        while True:
            future = self._admin.describe_configs([resource], request_timeout=self.timeout_s)
            entries = self._result(future[resource], "describe configs of", name)
            current = {key: entries[key].value if key in entries else None for key in values}
            stale = {
                key: value
                for key, value in current.items()
                if value is None
                or normalize_config_value(key, value) != normalize_config_value(key, values[key])
            }
            if not stale:
                return
            if time.monotonic() >= deadline:
                raise TopicAdminError(
                    f"topic {name!r} on {self.bootstrap} still shows {stale} "
                    f"{self.timeout_s:g}s after the change"
                )
            time.sleep(_POLL_INTERVAL_S)

    def _result(self, future: Future, action: str, name: str) -> Any:
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise StackUnavailableError(
                f"Kafka at {self.bootstrap} did not answer '{action} {name}' within "
                f"{self.timeout_s:g}s; is the stack up? (`streaminfer stack up`)"
            ) from None
        except KafkaException as error:
            raise self._translate(error, action, name) from None

    def _translate(self, error: KafkaException, action: str, name: str) -> Exception:
        kafka_error = error.args[0] if error.args else None
        code = kafka_error.code() if isinstance(kafka_error, KafkaError) else None
        if code in _UNREACHABLE:
            doing = f"{action} {name}".strip()
            return StackUnavailableError(
                f"Kafka is not reachable at {self.bootstrap} ({doing}: "
                f"{_describe(kafka_error)}); start it with `streaminfer stack up`"
            )
        return TopicAdminError(
            f"{action} {name} on {self.bootstrap} failed: {_describe(kafka_error)}",
            kafka_code=code,
        )


def _describe(kafka_error: Any) -> str:
    if isinstance(kafka_error, KafkaError):
        return f"{kafka_error.name()}: {kafka_error.str()}"
    return str(kafka_error)


def wait_until_led(admin: AdminClient, topics: list[str], timeout_s: float, what: str = "topics") -> None:
    """Block until every partition of ``topics`` has a leader (``TopicAdminError`` after ``timeout_s``).

    ``create_topics`` returns before every partition has a leader, and a producer that starts
    earlier fails; the benchmark and ``streaminfer chaos`` create topics and produce at once.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=5).topics
        if all(t in metadata and metadata[t].partitions and not metadata[t].error and
               all(p.leader >= 0 for p in metadata[t].partitions.values()) for t in topics):
            return
        time.sleep(0.1)
    raise TopicAdminError(f"{what} not ready after {timeout_s:.0f}s: {topics}")
