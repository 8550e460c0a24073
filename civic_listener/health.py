"""Health: each job's last run and each source's state, from the database and the running
service; ``civic-listener health`` prints it and the service serves it at ``GET /health``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from civic_listener import actions
from models.store import POST
from models.tables import JobState, QuarantinedPayload, SourceCursor


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def health_report(engine: Engine, *, live: dict[str, Any] | None = None) -> dict[str, Any]:
    """Jobs, sources and backlog; ``live`` adds the running service's in-memory source health."""
    jobs_t = JobState.__table__  # type: ignore[attr-defined]
    cur_t = SourceCursor.__table__  # type: ignore[attr-defined]
    q_t = QuarantinedPayload.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        jobs = [
            {
                "city_id": r.city_id,
                "name": r.name,
                "last_status": r.last_status,
                "last_started_at": _iso(r.last_started_at),
                "last_finished_at": _iso(r.last_finished_at),
                "last_error": r.last_error,
                "runs": r.runs,
                "failures": r.failures,
            }
            for r in conn.execute(sa.select(jobs_t).order_by(jobs_t.c.city_id, jobs_t.c.name))
        ]
        sources = [
            {
                "city_id": r.city_id,
                "name": r.source_name,
                "cursor": r.cursor,
                "updated_at": _iso(r.updated_at),
                "state": r.state or {},
            }
            for r in conn.execute(sa.select(cur_t).order_by(cur_t.c.city_id, cur_t.c.source_name))
        ]
        pending = conn.execute(
            sa.select(sa.func.count()).select_from(POST).where(POST.c.classified_at.is_(None))
        ).scalar_one()
        quarantined = conn.execute(sa.select(sa.func.count()).select_from(q_t)).scalar_one()
        # labelled batches whose acting hooks have not all run (civic_listener.actions)
        acting, acting_failed = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(sa.case((actions.OUTBOX.c.last_error.is_not(None), 1))),
            ).select_from(actions.OUTBOX)
        ).one()
    failing = [j["name"] for j in jobs if j["last_status"] == "failed"]
    report: dict[str, Any] = {
        "status": "degraded" if failing else "ok",
        "failing_jobs": failing,
        "jobs": jobs,
        "sources": sources,
        "pending_classification": pending,
        "quarantined": quarantined,
        "acting_batches_waiting": acting,
        "acting_batches_failed": acting_failed,
    }
    if live:
        report["live_sources"] = live
    return report


class _Handler(BaseHTTPRequestHandler):
    report: Callable[[], dict[str, Any]]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] not in ("/health", "/healthz"):
            self.send_error(404)
            return
        try:
            body = json.dumps(type(self).report(), default=str).encode()
            code = 200
        except Exception as exc:  # the database is down: say so
            body = json.dumps({"status": "down", "error": str(exc)}).encode()
            code = 503
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


def serve_health(host: str, port: int, report: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    """Serve ``GET /health`` in a daemon thread; call ``shutdown()`` to stop."""
    handler = type("HealthHandler", (_Handler,), {"report": staticmethod(report)})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
