"""Errors of the replies package, one tree per boundary.

Workflow (a person's action refused; nothing changed)::

    ReplyError
     ├── ReplyNotFound             no such reply (or post) in this city
     ├── InvalidTransition         the reply is not in a state that allows the action
     └── ReplyInvalid              the text is empty, too long or has unfilled placeholders

Sending (raised by the senders in ``responders/replies/senders``; SDK and HTTP errors are
translated there with ``raise ... from exc``)::

    SendError
     ├── SendRejected(reason)      the platform refused this reply: it fails with the reason
     ├── RateLimited(retry_after)  slow down: the reply waits until the reset, then retries
     ├── AuthRefused               the credentials were refused: retried, then failed
     └── SendUnavailable           network down, timeout or 5xx: retried with backoff

Permission is :class:`models.auth.PermissionDenied`, raised before anything changes.
"""

from __future__ import annotations


class ReplyError(Exception):
    """A reply action was refused."""


class ReplyNotFound(ReplyError, LookupError):
    """No such reply or post in this city."""


class InvalidTransition(ReplyError):
    """The reply's state does not allow this action."""


class ReplyInvalid(ReplyError, ValueError):
    """The reply's text cannot be approved or sent as it is."""


class SendError(Exception):
    """A platform could not take the reply."""

    retryable = True


class SendRejected(SendError):
    """The platform refused this reply (bad request, forbidden, deleted parent, too long)."""

    retryable = False


class RateLimited(SendError):
    def __init__(self, message: str = "rate limited", *, retry_after: float = 60.0) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, retry_after)


class AuthRefused(SendError):
    """The platform refused the sending credentials."""


class SendUnavailable(SendError):
    """The platform could not be reached or answered with a server error."""
