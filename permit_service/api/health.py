"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from permit_service.api.schemas import HealthSchema
from permit_service.extensions import db

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
        """Readiness: 200 when the database and the broker answer, 503 naming what is down."""
        checks = {"database": _check_database(), "broker": _check_broker()}
        ok = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ok else "unavailable", "checks": checks}, (200 if ok else 503)


def _check_database() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        return f"down: {type(exc).__name__}"


def _check_broker() -> str:
    celery = current_app.extensions.get("celery")
    if celery is None:
        return "down: no Celery app"
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"down: {type(exc).__name__}"
