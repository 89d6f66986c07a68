"""Experiments and benchmarks of the learning side on the fraud pipeline, and the feeders its tests use.

- ``devtools``           private learner topics, a stand-in champion score, a feeder and an in-memory core
- ``throughput``         ``python -m models.fraud.learning.throughput``: how fast the learner catches up
- ``challenger_replay``  ``python -m models.fraud.learning.challenger_replay``: where ``challenger_wins`` fires
- ``concept_probe``      ``python -m models.fraud.learning.concept_probe``: concept-drift warnings and pages
"""
