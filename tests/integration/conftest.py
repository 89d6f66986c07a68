"""One session-scoped real stack (Kafka + Triton) for every integration test.

If a stack is already up at the configured ports it is reused and left running; otherwise the
session starts one and stops it at the end. Under ``CI=true`` a stack that cannot start FAILS the
run — integration tests never skip silently there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from engine.errors import StackError
from engine.stack.manager import LocalStack
from engine.stack.settings import StackSettings, load_stack_settings, running_under_ci


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is marked ``integration``."""
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    """Settings of the stack the session uses (environment overrides apply)."""
    return load_stack_settings()


@pytest.fixture(scope="session")
def stack(stack_settings: StackSettings) -> Iterator[LocalStack]:
    """A ready local stack; started by this session only if it was not already running."""
    local = LocalStack(stack_settings, say=lambda line: print(f"[stack] {line}"))
    # Only a session that started the servers stops them: a developer's running stack (even one
    # that is busy loading a model) is left alone.
    already_running = local.running()
    try:
        local.up()
    except StackError as exc:
        message = f"the real stack could not start: {exc}"
        if running_under_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield local
    if not already_running:
        local.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: LocalStack) -> str:
    """``host:port`` of the session's real Kafka broker."""
    return stack.settings.kafka_bootstrap


@pytest.fixture(scope="session")
def triton_grpc_url(stack: LocalStack) -> str:
    """``host:port`` of the session's real Triton gRPC endpoint."""
    return stack.settings.triton_grpc_url


@pytest.fixture()
def unique_name() -> Callable[[str], str]:
    """Factory for names no other test run uses (topics, groups, transactional ids)."""
    run = uuid.uuid4().hex[:8]
    return lambda base: f"test.{base}.{run}"


@pytest.fixture()
def make_topic(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> Iterator[Callable[..., str]]:
    """Factory fixture: create a fresh topic on the real broker; deleted after the test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []

    def _make(base: str, partitions: int = 3, config: dict[str, str] | None = None) -> str:
        name = unique_name(base)
        futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})], operation_timeout=30)
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield _make
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001 — cleanup is best effort; the broker is per session
                pass


def _ready_model(stack: LocalStack, name: str, build):
    """``name`` exported into the stack's repository (``build(repository)`` if it has no version) and
    its newest version READY in Triton; returns that version's directory."""
    from engine.inference.model_control import ModelControl

    repository = stack.settings.model_repository
    control = ModelControl(stack.settings.triton_http_url)
    versions = ModelControl.versions_on_disk(repository, name)
    if not versions:
        versions = [build(repository).version]
    if str(versions[-1]) not in control.ready_versions(name):
        control.load(name)
    return repository / name / str(versions[-1])


@pytest.fixture(scope="session")
def fraud_model(stack: LocalStack):
    """The fraud model exported into the stack's repository and READY in Triton."""
    from models.fraud.export import build_fraud_model

    return _ready_model(stack, "fraud", build_fraud_model)


@pytest.fixture(scope="session")
def recs_model(stack: LocalStack):
    """The recs ranker exported into the stack's repository and READY in Triton."""
    from models.recs.export import build_recs_model

    return _ready_model(stack, "recs", build_recs_model)


@pytest.fixture()
def pipeline(request, tmp_path, stack: LocalStack, kafka_bootstrap: str, make_topic, fraud_model):
    """Factory: a private pipeline of a shipped use case (``fraud`` unless ``use_case`` says otherwise;
    3-partition topics, own group and transactional ids)."""
    from tests.integration.harness import PrivatePipeline, write_pipeline
    from tests.integration.use_cases import USE_CASES

    made: list[PrivatePipeline] = []

    def _make(name: str, partitions: int = 3, use_case: str = "fraud", **sections) -> PrivatePipeline:
        case = USE_CASES[use_case]
        if use_case == "recs":
            request.getfixturevalue("recs_model")
            sections = {"name": "recs", "plugin": "models.recs.pipeline:RecsPipeline",
                        "triton": {"model_name": "recs"}, "topics": {"input_schema": "recs.requests"},
                        "batching": dict(case.batching or {}), **sections}
        input_topic = make_topic(f"{name}.in", partitions)
        output_topic = make_topic(f"{name}.scores", partitions)
        dead_letter = make_topic(f"{name}.dlq", 1, {"max.message.bytes": "2097152"})
        alerts = make_topic(f"{name}.alerts", 1)
        # Private rollout topics too: a plan on the shared <pipeline>.rollout must never steer a test.
        rollout = {"plan_topic": make_topic(f"{name}.rollout", 1, {"cleanup.policy": "compact"}),
                   "mirror_topic": make_topic(f"{name}.mirror", partitions),
                   "audit_topic": make_topic(f"{name}.rollouts", 1)}
        sections["rollout"] = {**rollout, **sections.get("rollout", {})}
        path = write_pipeline(tmp_path, name, kafka_bootstrap, input_topic, output_topic, dead_letter, alerts, stack,
                              pipeline_name=sections.pop("name", "fraud"), **sections)
        logs = tmp_path / f"{name}-logs"
        logs.mkdir()
        made.append(PrivatePipeline(name, path, input_topic, output_topic, dead_letter, alerts, kafka_bootstrap,
                                    logs, use_case=case, plan_topic=sections["rollout"]["plan_topic"],
                                    mirror=sections["rollout"]["mirror_topic"],
                                    audit=sections["rollout"]["audit_topic"]))
        return made[-1]

    yield _make
    for item in made:
        item.stop_all()
