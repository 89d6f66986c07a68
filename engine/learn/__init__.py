"""The learning side branch (``streaminfer learn``): drift detectors, shadow learners and alerts.

A faust-streaming app with its own consumer group reads what the hot path writes and never slows it::

    STREAMINFER_LEARN__STATE_KEY=... streaminfer learn --pipeline fraud      # settings: fraud.learn.yaml
    STREAMINFER_LEARN__STATE_KEY=... streaminfer learn --pipeline recs       # settings: recs.learn.yaml
    streaminfer alerts tail --severity warning                                # what on-call sees
    streaminfer drift-eval --quick --json drift.json                          # how good the detectors are

The pipeline plugin's ``learning`` spec picks the learner kind and says what differs (features, field
names, context); everything else is shared:

- ``core``       the per-event learner (:class:`EventLearning`: a score and a 0/1 label per event);
- ``ranking``    the ranking learner (:class:`~engine.learn.ranking.spec.RankingLearning`: ranked lists ⋈
                 per-item feedback, ranking metrics, shadow rankers, position bias);
- ``join``       outputs ⋈ labels by id in a faust table (changelog ``<app_id>-join-changelog``), with
                 expiry; features of sampled inputs ride along;
- ``monitor``    River detectors on sampled features, on every score, on the champion's errors and loss;
- ``shadow``     River challengers learned prequentially from joined labels, compared with the champion;
- ``alerts``     deduplicated, cooled-down, schema-valid alerts (:class:`AlertPublisher` is reusable by
                 the hot path for ``slo_breach`` / ``error_rate`` / ``inference_down``);
- ``state``      detectors and learners checkpointed as HMAC-sealed blobs on ``<app_id>-state``
                 (compacted), restored after a crash; tampered blobs are refused with an alert;
- ``kafka_io``   librdkafka readers for inputs, outputs and labels (positions saved with the state);
                 faust keeps the join table and restores it from its changelog.
"""
