"""Replies a person approves: templates, drafts, the draft → approved → sent workflow,
the outbox, senders per platform, length counting and response-time figures.

Entry points: :func:`attach_replies` (wiring), :func:`desk_for` (the console), and the
functions of :mod:`~responders.replies.workflow`, :mod:`~responders.replies.drafts`,
:mod:`~responders.replies.outbox` and :mod:`~responders.replies.queries`.
"""

from responders.replies.desk import ReplyDesk, attach_replies, desk_for

__all__ = ["ReplyDesk", "attach_replies", "desk_for"]
