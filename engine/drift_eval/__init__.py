"""``streaminfer drift-eval``: the drift detectors' evaluation protocol, run through Kafka.

Synthetic River streams with known drift points → the 0/1 error stream of an online model → a Kafka
topic → the learner's own detector and alert classes → an alerts topic → scored from the alerts that
came back, and cross-checked against the same detectors run directly on the same signals.
"""
