"""``streaminfer generate events --pipeline P`` — any pipeline plugin's synthetic input into Kafka;
``generate recs`` is its shorthand, ``generate fraud`` adds fraud's delayed labels."""

from __future__ import annotations

import typer

from engine.cli.errors import clear_errors

app = typer.Typer(help="Produce synthetic events to the pipeline's input topic.", no_args_is_help=True)


@app.command("fraud")
@clear_errors
def fraud(
    count: int = typer.Option(10_000, "--count", "-n", min=1, help="Valid events to produce."),
    seed: int = typer.Option(7, "--seed", help="Same seed → same events."),
    rate: float = typer.Option(0.0, "--rate", min=0.0, help="Events per second (0 = as fast as possible)."),
    malformed: int = typer.Option(0, "--malformed", min=0, help="Malformed records to interleave."),
    drift: float = typer.Option(0.0, "--drift", min=0.0, max=1.0, help="Drift knob at the start."),
    drift_to: float = typer.Option(None, "--drift-to", min=0.0, max=1.0, help="Drift after --drift-at of the run."),
    drift_at: float = typer.Option(0.5, "--drift-at", min=0.0, max=1.0),
    labels: bool = typer.Option(True, "--labels/--no-labels", help="Also emit ground truth to fraud.labels."),
    label_delay_s: float = typer.Option(2.0, "--label-delay-s", min=0.0),
    warmup: int = typer.Option(None, "--warmup", min=0, help="Events generated and dropped first so per-card "
                               "velocity features start in steady state (default 24,576; 0 = a cold start)."),
    bootstrap: str = typer.Option("127.0.0.1:9092", "--bootstrap", envvar="STREAMINFER_KAFKA__BOOTSTRAP_SERVERS"),
    topic: str = typer.Option("fraud.transactions", "--topic"),
    labels_topic: str = typer.Option("fraud.labels", "--labels-topic"),
) -> None:
    """Produce COUNT card transactions keyed by card id (unique event_id each)."""
    from models.fraud.stream import FraudStreamProducer, GenerateOptions

    options = GenerateOptions(count=count, seed=seed, rate=rate, malformed=malformed, drift=drift,
                              drift_to=drift_to, drift_at=drift_at, labels=labels, label_delay_s=label_delay_s,
                              **({} if warmup is None else {"warmup": warmup}))
    report = FraudStreamProducer(bootstrap, topic, labels_topic).run(options)
    typer.echo(f"produced {report.events} events ({report.fraud} fraud), {report.malformed} malformed, "
               f"{report.labels} labels in {report.seconds:.1f}s → {topic}")
    if not report.complete:
        # Never a silent loss: a record the broker did not acknowledge fails the run.
        typer.echo(f"error: {report.failed} records failed delivery, {report.unacknowledged} still unacknowledged "
                   f"after the final flush (first failure: {report.first_failure or 'none'})", err=True)
        raise typer.Exit(1)


@app.command("events")
@clear_errors
def events(
    pipeline: str = typer.Option(..., "--pipeline", "-p", help="Shipped pipeline name or a YAML path."),
    count: int = typer.Option(10_000, "--count", "-n", min=1, help="Valid events to produce."),
    seed: int = typer.Option(7, "--seed", help="Same seed → same events."),
    rate: float = typer.Option(0.0, "--rate", min=0.0, help="Events per second (0 = as fast as possible)."),
    malformed: int = typer.Option(0, "--malformed", min=0, help="Malformed records to interleave."),
    drift: float = typer.Option(0.0, "--drift", min=0.0, max=1.0, help="The generator's drift knob."),
    topic: str = typer.Option(None, "--topic", help="Default: the pipeline's input topic."),
) -> None:
    """Produce COUNT synthetic events of PIPELINE's plugin, keyed by its entity key."""
    from engine.config.pipeline import load_pipeline
    from engine.generate.stream import EventStreamProducer
    from engine.pipeline.loader import load_plugin

    settings = load_pipeline(pipeline)
    plugin = load_plugin(settings.plugin, settings.plugin_options)
    topic = topic or settings.topics.input
    producer = EventStreamProducer(settings.kafka.bootstrap_servers, topic, plugin)
    report = producer.run(plugin.synthetic_events(seed, drift), count, rate=rate, malformed=malformed, seed=seed)
    typer.echo(f"produced {report.events} {settings.name} events, {report.malformed} malformed in "
               f"{report.seconds:.1f}s → {topic}")
    if not report.complete:
        typer.echo(f"error: {report.failed} records failed delivery, {report.unacknowledged} still unacknowledged "
                   f"after the final flush (first failure: {report.first_failure or 'none'})", err=True)
        raise typer.Exit(1)


@app.command("recs")
@clear_errors
def recs(
    count: int = typer.Option(10_000, "--count", "-n", min=1, help="Ranking requests to produce."),
    seed: int = typer.Option(7, "--seed", help="Same seed → same requests."),
    rate: float = typer.Option(0.0, "--rate", min=0.0, help="Requests per second (0 = as fast as possible)."),
    malformed: int = typer.Option(0, "--malformed", min=0, help="Malformed records to interleave."),
    drift: float = typer.Option(0.0, "--drift", min=0.0, max=1.0, help="Taste shift, new cohort, popularity shock."),
    drift_to: float = typer.Option(None, "--drift-to", min=0.0, max=1.0,
                                   help="Drift after --drift-at of the run (needs --feedback)."),
    drift_at: float = typer.Option(0.5, "--drift-at", min=0.0, max=1.0),
    feedback: bool = typer.Option(False, "--feedback/--no-feedback",
                                  help="Also play the users: read recs.ranked, produce clicks to recs.feedback."),
    click_window_s: float = typer.Option(30.0, "--click-window-s", min=0.001,
                                         help="Wall-clock click window; the simulated delays are scaled into it."),
    wait_s: float = typer.Option(30.0, "--wait-s", min=0.0,
                                 help="Stop waiting for rankings once none came for this long."),
    deadline_s: float = typer.Option(None, "--deadline-s", min=0.0, help="Hard cap on a --feedback run."),
    topic: str = typer.Option(None, "--topic", help="Default: recs.requests."),
    ranked_topic: str = typer.Option(None, "--ranked-topic", help="Default: the pipeline's output, recs.ranked."),
    feedback_topic: str = typer.Option(None, "--feedback-topic", help="Default: recs.feedback."),
) -> None:
    """Produce COUNT ranking requests keyed by user id (shorthand for ``generate events --pipeline recs``);
    with --feedback, also the users' impressions and clicks on what ``serve`` ranked for them."""
    from engine.errors import ConfigError

    if not feedback:
        if drift_to is not None:
            raise ConfigError("--drift-to needs --feedback (plain generation keeps one drift level)")
        events(pipeline="recs", count=count, seed=seed, rate=rate, malformed=malformed, drift=drift, topic=topic)
        return
    if malformed:
        raise ConfigError("--malformed is not supported with --feedback (a dead letter gets no ranking)")
    from engine.config.pipeline import load_pipeline
    from models.recs.feedback_sim import FeedbackOptions, FeedbackSimulator
    from models.recs.pipeline import RecsPipeline

    settings = load_pipeline("recs")
    options = FeedbackOptions(count=count, seed=seed, rate=rate, drift=drift, drift_to=drift_to, drift_at=drift_at,
                              click_window_s=click_window_s, wait_s=wait_s, deadline_s=deadline_s,
                              requests_topic=topic or settings.topics.input,
                              ranked_topic=ranked_topic or settings.topics.output,
                              feedback_topic=feedback_topic or RecsPipeline.labels.topic)
    report = FeedbackSimulator(settings.kafka.bootstrap_servers, options).run()
    typer.echo(f"produced {report.summary()} → {options.feedback_topic}")
    if report.unanswered:
        typer.echo(f"warning: {report.unanswered} requests got no ranking within --wait-s {wait_s:g} "
                   f"(is `streaminfer serve --pipeline recs` running?)", err=True)
    if not report.complete:
        # Never a silent loss: a record the broker did not acknowledge fails the run.
        typer.echo(f"error: {report.failed} records failed delivery, {report.unacknowledged} still unacknowledged "
                   f"after the final flush (first failure: {report.first_failure or 'none'})", err=True)
        raise typer.Exit(1)
    if report.abandoned:
        typer.echo(f"error: the deadline stopped the run with {report.abandoned} feedback records owed", err=True)
        raise typer.Exit(1)
