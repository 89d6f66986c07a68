"""Private, uniquely named topics for one chaos run, configured like the catalog topics of the pipeline
under test (its input schema's topic, its output, dead-letter and alerts topics)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from confluent_kafka.admin import AdminClient, NewTopic

from engine.errors import StackUnavailableError, TopicAdminError
from engine.topics.specs import TopicCatalog
from engine.topics.broker import wait_until_led

log = logging.getLogger("streaminfer.chaos")


@dataclass(frozen=True)
class ChaosTopicSet:
    """The four topics of a run's private pipeline."""

    input: str
    output: str
    dead_letter: str
    alerts: str

    def names(self) -> list[str]:
        """Every topic, input first."""
        return [self.input, self.output, self.dead_letter, self.alerts]


#: role → (name suffix, partitions). Six input partitions: three workers at the widest point of the
#: default schedule each get two.
_ROLES = {
    "input": ("in", 6),
    "output": ("out", 6),
    "dead_letter": ("dlq", 1),
    "alerts": ("alerts", 1),
}

#: The fraud pipeline's catalog topics: what each role copies when no pipeline is named.
FRAUD_ROLE_TOPICS: Mapping[str, str] = MappingProxyType({"input": "fraud.transactions", "output": "fraud.scores",
                                                         "dead_letter": "fraud.dlq", "alerts": "alerts"})


def role_configs(role_topics: Mapping[str, str], catalog: TopicCatalog) -> dict[str, dict[str, str]]:
    """Broker config per role, copied from the catalog topic named for it (retention,
    max.message.bytes...), without ``min.insync.replicas`` (written for production's 2: the one broker
    here would refuse acks=all). A role whose topic the catalog lacks (a user's own pipeline) gets the
    broker's defaults: the run still works, its topics are just not tuned."""
    known = set(catalog.names)
    configs = {}
    for role in _ROLES:
        name = role_topics.get(role)
        config = catalog.spec(name).broker_config() if name in known else {}
        configs[role] = {k: v for k, v in config.items() if k != "min.insync.replicas"}
    return configs


class ChaosTopics:
    """Creates ``chaos.<run-id>.{in,out,dlq,alerts}`` and deletes them again.

    Args:
        bootstrap: Kafka ``host:port``.
        run_id: The unique part of every name.
        role_topics: Catalog topic whose config each role copies (``input``, ``output``,
            ``dead_letter``, ``alerts``): :attr:`engine.chaos.target.ChaosTarget.role_topics`.
        timeout_s: Limit of each admin call.
    """

    def __init__(self, bootstrap: str, run_id: str, role_topics: Mapping[str, str] = FRAUD_ROLE_TOPICS,
                 timeout_s: float = 30.0) -> None:
        self.run_id = run_id
        self.timeout_s = timeout_s
        self.created: list[str] = []
        self.role_topics = dict(role_topics)
        # Quiet: it lives through the broker kill, and librdkafka would log every reconnect attempt.
        self._admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2, "error_cb": lambda _e: None})
        self._configs = role_configs(role_topics, TopicCatalog.load())
        self.topics = ChaosTopicSet(**{role: f"chaos.{run_id}.{suffix}" for role, (suffix, _) in _ROLES.items()})
        try:
            self._admin.list_topics(timeout=10)
        except Exception as exc:  # noqa: BLE001 — KafkaException or a timeout: nobody answers either way
            raise StackUnavailableError(f"Kafka at {bootstrap} does not answer: {exc}") from None

    def create(self) -> ChaosTopicSet:
        """Create all four and wait until every partition has a leader."""
        new = []
        for role, (_, partitions) in _ROLES.items():
            new.append(NewTopic(getattr(self.topics, role), partitions, 1, config=self._configs[role]))
        for topic, future in self._admin.create_topics(new, operation_timeout=self.timeout_s).items():
            try:
                future.result(timeout=self.timeout_s)
            except Exception as exc:  # noqa: BLE001 — KafkaException carries the broker's reason
                raise TopicAdminError(f"cannot create chaos topic {topic}: {exc}") from None
            self.created.append(topic)
        wait_until_led(self._admin, self.topics.names(), self.timeout_s, "chaos topics")
        return self.topics

    def delete(self) -> list[str]:
        """Delete what this object created (best effort); returns the topics that could not be deleted."""
        if not self.created:
            return []
        failed = []
        for topic, future in self._admin.delete_topics(self.created, operation_timeout=self.timeout_s).items():
            try:
                future.result(timeout=self.timeout_s)
            except Exception as exc:  # noqa: BLE001 — the run's verdict is already taken
                log.warning("could not delete %s: %s", topic, exc)
                failed.append(topic)
        self.created = failed
        return failed
