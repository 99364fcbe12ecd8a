"""The operator dashboard served by ``dialer serve`` at /dashboard: server-rendered pages
(Jinja2), our own small CSS and JavaScript shipped with the package (nothing from a CDN), and
live updates over Server-Sent Events. docs/dashboard.md describes it."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from dialer.api.dashboard import costs, tenant_settings, webhooks
from dialer.api.dashboard.routes import router
from dialer.api.dashboard.web import (
    HERE,
    PREFIX,
    Dashboard,
    PageError,
    PageRedirect,
    on_error,
    on_redirect,
)
from dialer.bootstrap import Runtime

__all__ = ["close_streams", "install"]


def install(app: FastAPI, runtime: Runtime) -> None:
    app.state.dashboard = Dashboard(runtime)
    app.include_router(router)
    app.include_router(tenant_settings.router)
    app.include_router(costs.router)
    app.include_router(webhooks.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.add_exception_handler(PageRedirect, on_redirect)
    app.add_exception_handler(PageError, on_error)


def close_streams(app: FastAPI) -> None:
    """End every open event stream (the server is stopping: it waits for open responses)."""
    dashboard: Dashboard | None = getattr(app.state, "dashboard", None)
    if dashboard is not None:
        dashboard.feed.close()
