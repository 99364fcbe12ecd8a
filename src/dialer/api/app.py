"""The HTTP application: provider webhooks and health (the REST API grows beside them)."""

from __future__ import annotations

from fastapi import FastAPI

from dialer import __version__
from dialer.api.webhooks import webhook_router
from dialer.bootstrap import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Dialer", version=__version__, docs_url=None, redoc_url=None)
    app.include_router(webhook_router(runtime))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
