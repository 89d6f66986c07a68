"""Every error streaminfer raises on purpose derives from one root, so callers can catch one type."""


class StreaminferError(Exception):
    """Root of every error streaminfer raises on purpose."""


class ConfigError(StreaminferError):
    """A configuration file, environment variable or CLI argument is invalid."""


class StackError(StreaminferError):
    """The local stack (Kafka or Triton) could not be installed, started, checked or stopped."""


class StackUnavailableError(StackError):
    """A server of the stack is not reachable where the configuration says it is."""


class ModelRepositoryError(StreaminferError):
    """A Triton model repository entry is malformed or could not be loaded."""


class InferenceError(StreaminferError):
    """Triton answered with an error that retrying will not fix (wrong shape, missing model...)."""


class InferenceUnavailableError(StreaminferError):
    """Triton is unreachable or timed out; retrying later may succeed."""


class FencedError(StreaminferError):
    """Another worker with the same transactional.id took over: this one must exit."""


class TopicAdminError(StreaminferError):
    """The broker refused or failed a topic operation (describe, create, alter)."""

    def __init__(self, message: str, *, kafka_code: int | None = None) -> None:
        super().__init__(message)
        self.kafka_code = kafka_code  # librdkafka error code, so callers can tolerate some


class ProducerStuckError(StreaminferError):
    """A blocking librdkafka transactional call did not return within its deadline: the producer is
    wedged (librdkafka #5456: send_offsets_to_transaction can ignore its timeout after a coordinator
    restart) and the worker must exit so that a restart resumes from the last commit."""
