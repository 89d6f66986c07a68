"""Private, uniquely named topics for one chaos run, configured like the catalog's fraud topics."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


#: role → (name suffix, partitions, catalog topic whose config it copies)
_ROLES = {
    "input": ("in", 6, "fraud.transactions"),
    "output": ("scores", 6, "fraud.scores"),
    "dead_letter": ("dlq", 1, "fraud.dlq"),
    "alerts": ("alerts", 1, "alerts"),
}


class ChaosTopics:
    """Creates ``chaos.<run-id>.{in,scores,dlq,alerts}`` and deletes them again.

    Args:
        bootstrap: Kafka ``host:port``.
        run_id: The unique part of every name.
        timeout_s: Limit of each admin call.
    """

    def __init__(self, bootstrap: str, run_id: str, timeout_s: float = 30.0) -> None:
        self.run_id = run_id
        self.timeout_s = timeout_s
        self.created: list[str] = []
        # Quiet: it lives through the broker kill, and librdkafka would log every reconnect attempt.
        self._admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2, "error_cb": lambda _e: None})
        self._catalog = TopicCatalog.load()
        self.topics = ChaosTopicSet(**{role: f"chaos.{run_id}.{suffix}" for role, (suffix, _, _) in _ROLES.items()})
        try:
            self._admin.list_topics(timeout=10)
        except Exception as exc:  # noqa: BLE001 — KafkaException or a timeout: nobody answers either way
            raise StackUnavailableError(f"Kafka at {bootstrap} does not answer: {exc}") from None

    def create(self) -> ChaosTopicSet:
        """Create all four and wait until every partition has a leader."""
        new = []
        for role, (_, partitions, catalog_name) in _ROLES.items():
            # min.insync.replicas is written for production (2): one broker here would refuse acks=all.
            config = {k: v for k, v in self._catalog.spec(catalog_name).broker_config().items()
                      if k != "min.insync.replicas"}
            new.append(NewTopic(getattr(self.topics, role), partitions, 1, config=config))
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
