"""The few domain errors. They become HTTP statuses only at the serve edge."""


class RecError(Exception):
    """Base of the project's errors."""


class ConfigError(RecError, ValueError):
    """A config file is missing, malformed or names an unknown key."""


class DataError(RecError, ValueError):
    """Input data (catalogue, events, dataset files) is malformed."""


class UnknownItemError(RecError, KeyError):
    """Item ids that are not in the live catalogue."""

    def __init__(self, item_ids: list[str]) -> None:
        self.item_ids = item_ids
        shown = ", ".join(repr(i) for i in item_ids[:10])
        more = f" and {len(item_ids) - 10} more" if len(item_ids) > 10 else ""
        super().__init__(f"unknown item_id: {shown}{more}")

    def __str__(self) -> str:
        return self.args[0]


class ItemConflictError(RecError, ValueError):
    """An item_id that is already known (catalogue or new items) with other content."""


class NotReadyError(RecError, RuntimeError):
    """Something the caller needs has not been built yet (run the embed job)."""


class InvalidRequestError(RecError, ValueError):
    """A request field the service refuses (a 422); the message names the field."""


class RequestBodyError(RecError, ValueError):
    """A raw request body the service refuses before parsing it (see serve/request_body.py)."""


class BodyTooLargeError(RequestBodyError):
    """A request body over the byte limit, or with more entries than allowed (a 413)."""
