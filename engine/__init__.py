"""streaminfer: Kafka micro-batches into Triton, exactly-once scores, River learners beside the stream."""

__version__ = "0.1.0"
