"""Fresh, uniquely named topics for one benchmark run, shaped like the benchmarked pipeline's catalog topics."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient, NewTopic

from engine.errors import StackUnavailableError, TopicAdminError
from engine.topics.specs import TopicCatalog
from engine.topics.broker import wait_until_led

log = logging.getLogger("streaminfer.bench")

#: The roles a bench topic plays; each copies one catalog topic's configuration.
ROLES: tuple[str, ...] = ("in", "out", "dlq")


def role_configs(role_topics: dict[str, str], catalog: TopicCatalog | None = None) -> dict[str, dict[str, str]]:
    """Broker config per role, copied from the catalog topic named for it (retention, max.message.bytes...).

    A role whose topic is not in the catalog (a user's own pipeline) gets the broker's defaults:
    the run still works, its topics are just not tuned.
    """
    catalog = catalog or TopicCatalog.load()
    known = set(catalog.names)
    return {role: catalog.spec(role_topics[role]).broker_config() if role_topics.get(role) in known else {}
            for role in ROLES}


@dataclass(frozen=True)
class TopicSet:
    """Input, output and dead-letter topic of one contender run."""

    input: str
    output: str
    dead_letter: str


class BenchTopics:
    """Creates ``bench.<run>.<label>.{in,out,dlq}`` topics and deletes them all at the end.

    Args:
        bootstrap: Kafka ``host:port``.
        partitions: Partition count of every input and output topic (dead letters get 1).
        role_topics: Catalog topic per role (``in``/``out``/``dlq``) whose config the role copies, e.g.
            :attr:`engine.bench.workload.Workload.role_topics`.
        run_id: Unique part of every name; random by default.
        timeout_s: Limit for each admin call.
    """

    def __init__(self, bootstrap: str, partitions: int, role_topics: dict[str, str], run_id: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.partitions = partitions
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.timeout_s = timeout_s
        self.created: list[str] = []
        self._admin = AdminClient({"bootstrap.servers": bootstrap})
        self._configs = role_configs(role_topics)
        try:
            self._admin.list_topics(timeout=10)
        except Exception as exc:  # noqa: BLE001 — KafkaException or a timeout: either way nobody answers
            raise StackUnavailableError(f"Kafka at {bootstrap} does not answer: {exc}") from None

    def name(self, label: str, role: str) -> str:
        """The topic name of ``role`` (in/out/dlq) for ``label`` in this run."""
        return f"bench.{self.run_id}.{label}.{role}"

    def create_set(self, label: str, roles: tuple[str, ...] = ("in", "out", "dlq")) -> TopicSet:
        """Create the topics of one contender run; roles not asked for are named but not created."""
        new = []
        for role in roles:
            partitions = 1 if role == "dlq" else self.partitions
            config = {k: v for k, v in self._configs[role].items() if k != "min.insync.replicas"}
            new.append(NewTopic(self.name(label, role), partitions, 1, config=config))
        futures = self._admin.create_topics(new, operation_timeout=self.timeout_s)
        for topic, future in futures.items():
            try:
                future.result(timeout=self.timeout_s)
            except Exception as exc:  # noqa: BLE001 — KafkaException carries the broker's reason
                raise TopicAdminError(f"cannot create benchmark topic {topic}: {exc}") from None
            self.created.append(topic)
        wait_until_led(self._admin, [t.topic for t in new], self.timeout_s, "benchmark topics")
        return TopicSet(self.name(label, "in"), self.name(label, "out"), self.name(label, "dlq"))

    def delete_all(self) -> None:
        """Delete every topic this object created (best effort: the run's figures are already taken)."""
        if not self.created:
            return
        for topic, future in self._admin.delete_topics(self.created, operation_timeout=self.timeout_s).items():
            try:
                future.result(timeout=self.timeout_s)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not delete %s: %s", topic, exc)
        self.created.clear()
