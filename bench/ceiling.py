"""The ceiling: a bare Flask app answering a constant 50-item JSON list (permit-shaped items).

Served by the same gunicorn settings as the service, in the same run, so every scenario can be
reported as a fraction of what Flask + gunicorn + JSON encoding alone can do on this machine.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

ITEMS = [
    {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "name": f"Resident {i}",
        "license_plate": f"AAA-{i:05d}",
        "address": f"{i + 1} Seed Street",
        "email": None,
        "status": "pending",
        "created_at": "2026-11-23T09:00:00.000000+00:00",
        "updated_at": "2026-11-23T09:00:00.000000+00:00",
        "expires_at": "2026-11-23T09:05:00.000000+00:00",
    }
    for i in range(50)
]

app = Flask(__name__)


@app.get("/ceiling")
def ceiling() -> Response:
    """The constant list, JSON-encoded per request as the service does."""
    return jsonify(ITEMS)
