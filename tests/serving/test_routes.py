"""The serving layout rule: `/api/<resource>` is declared in `serving/routes/<resource>.py`."""

from __future__ import annotations

import pkgutil
import tempfile
from pathlib import Path

from fastapi.routing import iter_route_contexts

from mlpkg.config import Settings
from mlpkg.serving import routes
from mlpkg.serving.app import create_app


def _api_routes() -> list[tuple[str, str]]:
    """``(path, module of its endpoint)`` of every route the app serves under ``/api/``."""
    app = create_app(Settings(home=Path(tempfile.gettempdir()), pairs=["BTC"]))
    # FastAPI 0.165 keeps included routers nested in app.routes; this walks all of them.
    return [
        (str(context.path), context.endpoint.__module__)
        for context in iter_route_contexts(app.routes)
        if str(context.path).startswith("/api/") and context.endpoint is not None
    ]


def test_every_api_route_is_declared_in_the_module_named_after_its_resource():
    served = _api_routes()
    assert len(served) >= 13
    misplaced = [
        (path, module)
        for path, module in served
        if module != f"{routes.__name__}.{path.split('/')[2]}"
    ]
    assert misplaced == []


def test_every_route_module_serves_its_resource():
    modules = {f"{routes.__name__}.{m.name}" for m in pkgutil.iter_modules(routes.__path__)}
    assert modules == {module for _, module in _api_routes()}
