"""Domain errors. Each carries the HTTP status the contract names for it;
feedguard.api maps them to the contract's error body in one place."""

from __future__ import annotations

from typing import Any


class FeedguardError(Exception):
    status = 500

    def __init__(self, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class MalformedRequest(FeedguardError):
    status = 400


class Unauthorized(FeedguardError):
    status = 401


class Forbidden(FeedguardError):
    status = 403


class NotFound(FeedguardError):
    status = 404


class Conflict(FeedguardError):
    status = 409


class PreconditionFailed(FeedguardError):
    status = 412


class PayloadTooLarge(FeedguardError):
    status = 413


class InvalidInput(FeedguardError):
    status = 422
