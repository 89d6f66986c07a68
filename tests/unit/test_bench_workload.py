"""What the bench derives from a pipeline's plugin: output ids, input schema, topic specs, run specs, the CLI
option (no Kafka or Triton needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.bench.contenders import build_contenders
from engine.bench.runner import BenchRunner
from engine.bench.settings import BenchOptions, load_target
from engine.bench.topics import TopicSet, role_configs
from engine.bench.workload import Workload, output_id_field, pipeline_ref
from engine.cli.main import app
from engine.config.pipeline import load_pipeline
from engine.errors import ConfigError
from engine.paths import PIPELINES_DIR
from engine.pipeline.contract import PipelinePlugin
from engine.topics.specs import TopicCatalog


class _NoLabels(PipelinePlugin):
    """A plugin with no label join: the bench must find the id in its events."""

    name = "nolabels"
    input_schema = "fraud.transactions"
    model_inputs = ("x",)
    model_outputs = ("y",)

    def synthetic_events(self, seed: int, drift: float = 0.0) -> Iterator[dict]:
        while True:
            yield {"id": "a-1", "value": 3}


@pytest.mark.parametrize(("pipeline", "id_field", "schema", "roles"), [
    ("fraud", "event_id", "fraud.transactions", {"in": "fraud.transactions", "out": "fraud.scores",
                                                  "dlq": "fraud.dlq"}),
    ("recs", "request_id", "recs.requests", {"in": "recs.requests", "out": "recs.ranked", "dlq": "recs.dlq"}),
])
def test_workload_follows_the_pipeline_yaml_and_plugin(pipeline: str, id_field: str, schema: str,
                                                        roles: dict[str, str]) -> None:
    workload = Workload.of(pipeline, load_pipeline(pipeline))
    assert workload.ref == pipeline and workload.name == pipeline
    assert workload.id_field == id_field
    assert workload.input_schema == schema
    assert workload.role_topics == roles


def test_a_yaml_path_reaches_contenders_as_an_absolute_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PIPELINES_DIR.parent.parent)
    assert pipeline_ref("recs") == "recs"
    ref = pipeline_ref("compose/pipelines/recs.yaml")
    assert Path(ref).is_absolute() and Path(ref) == (PIPELINES_DIR / "recs.yaml").resolve()


def test_output_id_comes_from_the_label_join_else_from_the_events() -> None:
    from models.recs.pipeline import RecsPipeline

    assert output_id_field(RecsPipeline(), {"request_id": "r-1", "event_id": "x"}) == "request_id"
    plugin = _NoLabels()
    assert output_id_field(plugin, next(plugin.synthetic_events(0))) == "id"
    with pytest.raises(ConfigError, match="no string id field"):
        output_id_field(plugin, {"value": 3})


def test_bench_topics_copy_the_pipeline_catalog_specs() -> None:
    catalog = TopicCatalog.load()
    configs = role_configs({"in": "recs.requests", "out": "recs.ranked", "dlq": "recs.dlq"}, catalog)
    assert configs["in"] == catalog.spec("recs.requests").broker_config()
    assert configs["out"] == catalog.spec("recs.ranked").broker_config()
    assert configs["dlq"]["retention.ms"] == catalog.spec("recs.dlq").config["retention.ms"]
    # A user's own topics need not be in the catalog: broker defaults, not an error.
    assert role_configs({"in": "mine.in", "out": "recs.ranked", "dlq": "mine.dlq"}, catalog)["in"] == {}


def test_runner_hands_every_contender_the_pipeline_and_its_schema() -> None:
    runner = BenchRunner(BenchOptions.quick(), load_target("recs"))
    topics = TopicSet("bench.r.in", "bench.r.out", "bench.r.dlq")
    engine, naive = build_contenders(("engine_eos", "naive"))
    spec = runner._spec(naive, topics, "sat")
    assert (spec.pipeline, spec.input_schema, spec.model_name) == ("recs", "recs.requests", "recs")
    assert spec.max_rows == load_pipeline("recs").batching.max_rows
    engine_spec = runner._spec(engine, topics, "sat")
    argv, env = engine.command(engine_spec), engine.env(engine_spec)
    assert argv[argv.index("--pipeline") + 1] == "recs"
    assert env["STREAMINFER_TOPICS__INPUT_SCHEMA"] == "recs.requests"
    settings = runner._settings(topics=None)  # type: ignore[arg-type]
    assert settings["pipeline"] == "recs" and settings["output_id_field"] == "request_id"
    assert settings["topic_specs"]["out"] == "recs.ranked"


def test_cli_has_a_pipeline_option_and_refuses_an_unknown_pipeline() -> None:
    assert "--pipeline" in CliRunner().invoke(app, ["bench", "--help"]).output
    result = CliRunner().invoke(app, ["bench", "--quick", "--pipeline", "nope"])
    assert result.exit_code == 2
    assert "unknown pipeline 'nope'" in result.output
