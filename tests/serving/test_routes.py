"""The serving layout rule: `/api/<resource>` is declared in `serving/routes/<resource>.py`.

Routes outside `/api` (`/metrics` for Prometheus, `/ws/...` for WebSockets) follow the same rule
with their first path segment: `/metrics` lives in `routes/metrics.py`.
"""

from __future__ import annotations

import pkgutil
import tempfile
from pathlib import Path

from fastapi.routing import iter_route_contexts

from mlpkg.config import Settings
from mlpkg.serving import routes
from mlpkg.serving.app import create_app


def _served_routes() -> list[tuple[str, str]]:
    """``(path, module of its endpoint)`` of every route mlpkg declares (not FastAPI's docs)."""
    app = create_app(Settings(home=Path(tempfile.gettempdir()), pairs=["BTC"]))
    # FastAPI 0.165 keeps included routers nested in app.routes; this walks all of them.
    return [
        (str(context.path), context.endpoint.__module__)
        for context in iter_route_contexts(app.routes)
        if context.endpoint is not None and context.endpoint.__module__.startswith("mlpkg.")
    ]


def _resource(path: str) -> str:
    """``/api/<resource>/...`` -> resource; ``/<name>/...`` -> name."""
    parts = path.split("/")
    return parts[2] if parts[1] == "api" else parts[1]


def test_every_api_route_is_declared_in_the_module_named_after_its_resource():
    served = [(p, m) for p, m in _served_routes() if p.startswith("/api/")]
    assert len(served) >= 13
    misplaced = [(p, m) for p, m in served if m != f"{routes.__name__}.{_resource(p)}"]
    assert misplaced == []


def test_routes_outside_api_are_declared_in_the_module_named_after_their_first_segment():
    outside = [(p, m) for p, m in _served_routes() if not p.startswith("/api/")]
    assert ("/metrics", f"{routes.__name__}.metrics") in outside
    misplaced = [(p, m) for p, m in outside if m != f"{routes.__name__}.{_resource(p)}"]
    assert misplaced == []


def test_every_route_module_serves_its_resource():
    modules = {f"{routes.__name__}.{m.name}" for m in pkgutil.iter_modules(routes.__path__)}
    assert modules == {module for _, module in _served_routes()}
