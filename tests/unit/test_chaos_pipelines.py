"""``streaminfer chaos --pipeline`` without I/O: what a run derives from the pipeline under test (topic
configs, input schema, model, generator, rate, report), for every shipped pipeline and a user's own."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from engine.chaos import options as options_module
from engine.chaos import injector as injector_module
from engine.chaos import runner as runner_module
from engine.chaos.generator import GeneratorProcess
from engine.chaos.injector import FaultInjector
from engine.chaos.options import ChaosOptions, require_ready
from engine.chaos.pipeline import write_chaos_pipeline
from engine.chaos.report import ChaosReport, render_report
from engine.chaos.runner import ChaosRunner
from engine.chaos.target import FALLBACK_RATE, ChaosTarget
from engine.chaos.timeline import FaultRecord
from engine.chaos.topics import FRAUD_ROLE_TOPICS, ChaosTopicSet, role_configs
from engine.chaos.workers import WorkerPool
from engine.cli.main import app
from engine.config.pipeline import load_pipeline
from engine.errors import ConfigError, StackError
from engine.paths import PIPELINES_DIR
from engine.pipeline.contract import PipelinePlugin
from engine.stack.settings import StackSettings
from engine.topics.specs import TopicCatalog
from tests.unit.test_chaos_schedule import FakeServe

SENSOR_SCHEMA = Path(__file__).parents[1] / "pipelines" / "sensors" / "schema.json"


class _FileSchemaPlugin(PipelinePlugin):
    """A user's plugin: its schema is a .json file, its topics are in no catalog."""

    name = "readings"
    input_schema = str(SENSOR_SCHEMA)
    model_inputs = ("x",)
    model_outputs = ("y",)

    def synthetic_events(self, seed: int, drift: float = 0.0) -> Iterator[dict]:
        while True:
            yield {"reading_id": "r-1", "temperature": 20.0}


class _NoGenerator(PipelinePlugin):
    """A plugin that cannot make events: chaos has no input for it."""

    name = "silent"
    input_schema = "fraud.transactions"
    model_inputs = ("x",)
    model_outputs = ("y",)


def _user_pipeline(tmp_path: Path, plugin: str) -> Path:
    path = tmp_path / "readings.yaml"
    path.write_text(yaml.safe_dump({
        "name": "readings", "plugin": f"tests.unit.test_chaos_pipelines:{plugin}",
        "topics": {"input": "readings.in", "output": "readings.out", "dead_letter": "readings.dlq",
                   "alerts": "readings.alerts"},
        "triton": {"model_name": "readings-model"},
    }))
    return path


def _stack(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path / "stack", kafka_port=19092, kafka_controller_port=19093,
                         triton_http_port=18000, triton_grpc_port=18001, triton_metrics_port=18002)


# -- the target -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("pipeline", "schema", "roles", "model", "rate"), [
    ("fraud", "fraud.transactions", {"input": "fraud.transactions", "output": "fraud.scores",
                                     "dead_letter": "fraud.dlq", "alerts": "alerts"}, "fraud", 5000.0),
    ("recs", "recs.requests", {"input": "recs.requests", "output": "recs.ranked", "dead_letter": "recs.dlq",
                               "alerts": "alerts"}, "recs", 1000.0),
])
def test_every_shipped_pipeline_names_its_schema_topics_model_and_rate(pipeline: str, schema: str,
                                                                        roles: dict[str, str], model: str,
                                                                        rate: float) -> None:
    target = ChaosTarget.load(pipeline)
    assert (target.name, target.use_case, target.ref) == (pipeline, pipeline, pipeline)
    assert target.base == (PIPELINES_DIR / f"{pipeline}.yaml").resolve()
    assert target.input_schema == schema and target.model_name == model
    assert dict(target.role_topics) == roles
    assert target.default_rate == rate


def test_fraud_by_default_copies_what_it_always_copied() -> None:
    assert dict(ChaosTarget.load("fraud").role_topics) == dict(FRAUD_ROLE_TOPICS)


def test_a_user_pipeline_with_a_json_schema_uses_its_yaml_topics_and_the_cautious_rate(tmp_path: Path) -> None:
    path = _user_pipeline(tmp_path, "_FileSchemaPlugin")
    target = ChaosTarget.load(str(path))
    assert target.name == "readings" and target.model_name == "readings-model"
    assert target.input_schema == str(SENSOR_SCHEMA)
    assert target.role_topics["input"] == "readings.in"  # a .json schema has no catalog topic
    assert target.default_rate == FALLBACK_RATE
    assert target.describe()["role_topics"]["output"] == "readings.out"


def test_a_pipeline_without_a_generator_fails_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot run under chaos"):
        ChaosTarget.load(str(_user_pipeline(tmp_path, "_NoGenerator")))


def test_an_unknown_pipeline_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown pipeline 'nope'"):
        ChaosTarget.load("nope")


# -- topics ---------------------------------------------------------------------------------------


def test_recs_topics_copy_the_recs_catalog_configs_without_min_insync_replicas() -> None:
    catalog = TopicCatalog.load()
    configs = role_configs(ChaosTarget.load("recs").role_topics, catalog)
    for role, name in (("input", "recs.requests"), ("output", "recs.ranked"), ("dead_letter", "recs.dlq")):
        expected = {k: v for k, v in catalog.spec(name).broker_config().items() if k != "min.insync.replicas"}
        assert configs[role] == expected and "min.insync.replicas" not in configs[role]
    assert configs["input"]["max.message.bytes"] == "1572864"


def test_topics_the_catalog_lacks_get_the_broker_defaults() -> None:
    configs = role_configs({"input": "readings.in", "output": "fraud.scores"}, TopicCatalog.load())
    assert configs["input"] == {} and configs["dead_letter"] == {} and configs["alerts"] == {}
    assert configs["output"]["retention.ms"] == "604800000"


# -- the private pipeline and the generator -------------------------------------------------------


def test_recs_private_pipeline_keeps_the_recs_plugin_model_and_batching(tmp_path: Path) -> None:
    target = ChaosTarget.load("recs")
    topics = ChaosTopicSet("chaos.r1.in", "chaos.r1.out", "chaos.r1.dlq", "chaos.r1.alerts")
    path = write_chaos_pipeline(tmp_path / "run" / "pipeline.yaml", "r1", topics, _stack(tmp_path),
                                base=target.base, input_schema=target.input_schema)
    settings = load_pipeline(str(path))
    assert settings.name == "recs" and settings.plugin == "models.recs.pipeline:RecsPipeline"
    assert settings.plugin_options == {"max_candidates": 500}
    assert settings.topics.input == "chaos.r1.in" and settings.topics.input_schema == "recs.requests"
    assert settings.topics.output == "chaos.r1.out"
    assert settings.triton.model_name == "recs" and settings.triton.url == "127.0.0.1:18001"
    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092" and settings.kafka.group_id == "chaos-r1"
    assert settings.batching.max_rows == 256
    assert "derived from recs.yaml" in path.read_text().splitlines()[0]


def test_the_generator_makes_the_pipelines_events_on_the_private_stack(tmp_path: Path) -> None:
    pipeline = tmp_path / "run" / "pipeline.yaml"
    argv = GeneratorProcess(pipeline, "chaos.r1.in", 100_000, 1000.0, 200, tmp_path / "g.log", seed=3).argv
    assert argv[argv.index("generate") + 1] == "events"
    assert argv[argv.index("--pipeline") + 1] == str(pipeline)  # bootstrap and plugin come from it
    assert argv[argv.index("--topic") + 1] == "chaos.r1.in"
    assert [argv[argv.index(flag) + 1] for flag in ("--count", "--rate", "--malformed", "--seed")] == [
        "100000", "1000", "200", "3"]


def test_generate_events_takes_every_flag_the_generator_passes(tmp_path: Path) -> None:
    argv = GeneratorProcess(tmp_path / "p.yaml", "t", 1, 1.0, 0, tmp_path / "g.log").argv
    flags = {arg for arg in argv if arg.startswith("--")}
    help_text = CliRunner().invoke(app, ["generate", "events", "--help"], env={"COLUMNS": "200"}).output
    assert all(flag in help_text for flag in flags), flags


# -- readiness ------------------------------------------------------------------------------------


class _Models:
    ready: dict[str, list[str]] = {}

    def __init__(self, _url: str) -> None:
        pass

    def ready_versions(self, name: str) -> list[str]:
        return self.ready.get(name, [])


def _fake_stack(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(settings=_stack(tmp_path), status=lambda: SimpleNamespace(ready=True))


def test_readiness_asks_for_the_pipelines_model_and_says_what_to_build(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options_module, "ModelControl", _Models)
    monkeypatch.setattr(_Models, "ready", {"fraud": ["1"]})
    with pytest.raises(StackError, match=r"no READY 'recs' model; run `streaminfer models build recs`"):
        require_ready(_fake_stack(tmp_path), "recs", "recs")
    monkeypatch.setattr(_Models, "ready", {"recs": ["1"]})
    require_ready(_fake_stack(tmp_path), "recs", "recs")


def test_after_a_triton_restart_the_runner_waits_for_the_pipelines_model(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "ModelControl", _Models)
    monkeypatch.setattr(_Models, "ready", {"fraud": ["1"]})
    runner = ChaosRunner(ChaosOptions(pipeline="recs", work_dir=tmp_path), _fake_stack(tmp_path))
    assert runner.target.model_name == "recs" and not runner._model_ready()
    monkeypatch.setattr(_Models, "ready", {"recs": ["2"]})
    assert runner._model_ready()


# -- exits before the next fault -----------------------------------------------------------------


def _runner_with_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChaosRunner:
    monkeypatch.setattr(runner_module, "ModelControl", _Models)
    monkeypatch.setattr(injector_module.time, "sleep", lambda _s: None)
    runner = ChaosRunner(ChaosOptions(work_dir=tmp_path), _fake_stack(tmp_path))
    runner.say = lambda _line: None
    runner._r.pool = WorkerPool(tmp_path / "p.yaml", tmp_path, factory=FakeServe)
    runner._r.injector = FaultInjector(runner._r.pool, None, runner.clock, 6.0,  # type: ignore[arg-type]
                                       lambda _line: None, lambda: True)
    return runner


def test_wedged_workers_are_replaced_and_assigned_so_a_fault_due_next_finds_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _runner_with_fakes(tmp_path, monkeypatch)
    pool = runner._r.pool
    w0, group = pool.start_primary(), pool.start_scale_out()
    broker = FaultRecord("broker@0.3", "broker", 1.0, 0.3, 30, completed_s=runner.clock.now())
    w0.code = group.code = 4  # librdkafka wedged after the broker kill
    rows = runner._unexpected_exits(40, 0.4, [broker])
    assert [row.fault for row in rows] == ["wedge-restart", "wedge-restart"] and all(row.ok for row in rows)
    assert rows[0].action == "w0.1 exited (after the broker kill); started w0.2 (assigned after 0.0 s)"
    assert rows[1].action.endswith("started w1-2.2 (assigned after 0.0 s)")
    zombie = runner._r.injector.inject("zombie")  # due at once: it stalls the replacement, not the dead
    assert zombie.ok and zombie.action.startswith("SIGSTOP w0.2")


def _never_assigned(init):
    def wrapped(self, *args) -> None:
        init(self, *args)
        self.assigns = False  # FakeServe then times out waiting for its assignment
    return wrapped


def test_a_replacement_that_never_gets_partitions_fails_its_row(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _runner_with_fakes(tmp_path, monkeypatch)
    w0 = runner._r.pool.start_primary()
    broker = FaultRecord("broker@0.3", "broker", 1.0, 0.3, 30, completed_s=runner.clock.now())
    w0.code = 4
    monkeypatch.setattr(FakeServe, "__init__", _never_assigned(FakeServe.__init__))
    (row,) = runner._unexpected_exits(40, 0.4, [broker])
    assert not row.ok and "NOT assigned: no partition assignment after 60 s" in row.action


# -- report and CLI -------------------------------------------------------------------------------


def test_the_report_names_the_pipeline() -> None:
    report = ChaosReport("r1", "chaos", 2, 1, 3, pipeline="recs")
    buffer = io.StringIO()
    render_report(report, Console(file=buffer, width=250))
    text = buffer.getvalue()
    assert "streaminfer chaos recs r1: no faults" in text
    assert "events (recs): 2 valid + 1 malformed = 3 inputs" in text
    assert orjson.loads(orjson.dumps(report.to_json()))["pipeline"] == "recs"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The CLI up to the run: the stack and the runner are fakes that record what they were given."""
    seen: dict = {}

    class FakeRunner:
        def __init__(self, options, stack, say, target) -> None:
            seen.update(options=options, target=target)

        def run(self) -> ChaosReport:
            return ChaosReport("r1", "chaos", 1, 0, 1, error="fake run", pipeline=seen["target"].name)

    monkeypatch.setattr("engine.stack.manager.LocalStack", lambda settings, say: SimpleNamespace())
    monkeypatch.setattr(options_module, "require_ready",
                        lambda stack, model, pipeline: seen.update(ready=(model, pipeline)))
    monkeypatch.setattr(runner_module, "ChaosRunner", FakeRunner)
    for name in ("STREAMINFER_KAFKA__BOOTSTRAP_SERVERS", "STREAMINFER_TRITON__URL"):
        monkeypatch.delenv(name, raising=False)
    return seen


@pytest.mark.parametrize(("args", "pipeline", "rate"), [
    ([], "fraud", 5000.0),
    (["--pipeline", "recs"], "recs", 1000.0),
    (["-p", "recs", "--rate", "2500"], "recs", 2500.0),
])
def test_cli_rate_defaults_per_pipeline_and_checks_its_model(captured: dict, args: list[str], pipeline: str,
                                                            rate: float) -> None:
    result = CliRunner().invoke(app, ["chaos", "--events", "10", *args])
    assert result.exit_code == 1, result.output  # the fake run aborted: FAIL
    assert captured["options"].pipeline == pipeline and captured["options"].rate == rate
    assert captured["target"].name == pipeline and captured["ready"] == (pipeline, pipeline)
    assert f"streaminfer chaos {pipeline} r1" in result.output


def test_cli_soak_count_follows_the_pipelines_rate(captured: dict) -> None:
    result = CliRunner().invoke(app, ["chaos", "--pipeline", "recs", "--soak-minutes", "1"])
    assert result.exit_code == 1, result.output
    assert captured["options"].events == 60_000 and captured["options"].soak


def test_cli_unknown_pipeline_exits_2_before_touching_the_stack(captured: dict) -> None:
    result = CliRunner().invoke(app, ["chaos", "--pipeline", "nope"])
    assert result.exit_code == 2 and "unknown pipeline 'nope'" in result.output
    assert "ready" not in captured
