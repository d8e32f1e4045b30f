"""The one error type of the problems package: a field path and a human message."""

from __future__ import annotations


class SpecError(ValueError):
    """A layer stack, grid or answer that cannot be computed, with the place it went wrong.

    `path` uses the spec's notation (`layers[3].kernel`, `input[1][2]`); the edges turn it
    into exit status 2 (CLI) or HTTP 422 with `{"error": {"path", "message"}}`.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

    def to_json(self) -> dict[str, dict[str, str]]:
        """The error body of the spec, section 4."""
        return {"error": {"path": self.path, "message": self.message}}
