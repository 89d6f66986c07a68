"""The learning side branch (``streaminfer learn``): drift detectors, shadow learners and alerts.

A faust-streaming app with its own consumer group reads what the hot path writes and never slows it:

- ``join``      fraud.scores ⋈ fraud.labels by event_id in a changelog-backed table with expiry;
- ``monitor``   River drift detectors on sampled features, on every score, on the champion's errors;
- ``shadow``    River challengers trained prequentially on joined labels, compared with the champion;
- ``alerts``    deduplicated, cooled-down alerts on ``alerts`` (the publisher is reusable by serve);
- ``state``     detectors and learners checkpointed as HMAC-sealed blobs on a compacted topic.
"""
