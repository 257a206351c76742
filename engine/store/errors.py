class StoreError(Exception):
    """The event store refused an operation."""


class ConcurrencyError(StoreError):
    """Another writer appended to a stream since the caller read it; nothing of the batch was written."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(f"stream version conflict: expected version {expected}, found {actual}")
        self.stream = stream
        self.expected = expected
        self.actual = actual
