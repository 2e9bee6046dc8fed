"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from permit_service.api.schemas import HealthSchema
from permit_service.db_bounds import probe
from permit_service.extensions import db

# A load balancer's probe times out after a few seconds: answer well within that, whatever state
# the database or the broker is in (frozen, refusing, slow).
PROBE_SECONDS = 2.0

blp = Blueprint("health", __name__, description="Health probes")


@blp.route("/healthz")
class Liveness(MethodView):
    @blp.response(200, HealthSchema, example={"status": "ok"})
    @blp.doc(operationId="getLiveness")
    def get(self) -> Any:
        """Liveness: 200 while the process can answer. Touches neither database nor broker."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readiness(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="Names what is down.")
    @blp.doc(operationId="getReadiness")
    def get(self) -> Any:
        """Readiness: 200 when the database and the broker answer, 503 naming what is down.

        Answers within about two seconds, whatever state the database or the broker is in.
        """
        database: dict[str, str] = {}
        # Both checks at once: the answer takes the slower one's time, not the sum.
        worker = threading.Thread(
            target=_check_database,
            args=(db.engine, current_app.config, database),
            name="readyz-database",
            daemon=True,
        )
        worker.start()
        broker = _check_broker()
        worker.join(PROBE_SECONDS + 1)
        checks = {"database": database.get("result", "down: no answer in time"), "broker": broker}
        ok = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ok else "unavailable", "checks": checks}, (200 if ok else 503)


def _check_database(engine: Any, config: Any, out: dict[str, str]) -> None:
    """A new connection and SELECT 1 within PROBE_SECONDS (not the pool: it may hold dead ones)."""
    try:
        probe(engine, config, PROBE_SECONDS)
        out["result"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        out["result"] = f"down: {type(exc).__name__}"


def _check_broker() -> str:
    celery = current_app.extensions.get("celery")
    if celery is None:
        return "down: no Celery app"
    options = celery.conf.broker_transport_options or {}
    if celery.conf.broker_url.startswith("filesystem://"):
        # Connecting to the embedded broker always succeeds: check that its folders work.
        from permit_service.embedded_broker import folder_problems

        keys = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
        folders = [options[k] for k in keys if k in options]
        problems = folder_problems(folders)
        if problems:
            return "down: " + "; ".join(problems)
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=PROBE_SECONDS
            )
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"down: {type(exc).__name__}"
