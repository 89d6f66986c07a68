"""Model lifecycle on the stream: one rollout plan per pipeline kept in Kafka, applied by every serve
worker at a batch boundary (shadow, canary by entity key, guarded steps), audited on ``rollouts``."""
