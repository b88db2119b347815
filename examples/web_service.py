"""An aiohttp.web service that starts, reports and cancels exports, and survives restarts.

``POST /exports`` starts one and answers its id; ``GET /exports/{id}`` reports it
(``?wait=<seconds>`` long-polls, leaving the operation running when the wait ends);
``DELETE /exports/{id}`` cancels it and answers the confirmed outcome. The scheduler's
``checkpoint_store`` saves every state change in a directory, so a restarted service
(even one that was killed) gets every operation back with ``resume_all()``: no id map,
no persistence code of its own.

Run it: ``python examples/web_service.py`` (a demo against the embedded fake server,
restarting the service halfway), or
``python examples/web_service.py serve UPSTREAM_URL STORE_DIR`` to serve on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
from aiohttp import web

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

EXPORT = lrpoll.PollSpec(
    status_url="/api/exports/{start.jobId}/status",
    interval=0.05,
    min_interval=0,
    max_duration=600,
    done="status == 'done'",
    failed="status == 'failed'",
    cancelled="status == 'cancelled'",
    progress="progress",
    result="result",
    error_message="error.message",
    cancel=lrpoll.CancelSpec(url="/api/exports/{start.jobId}/cancel", confirm_timeout=5),
)
SCHEDULER = web.AppKey("scheduler", lrpoll.Scheduler)
routes = web.RouteTableDef()


def report(op: lrpoll.Operation) -> dict[str, Any]:
    """What GET answers about one operation."""
    body: dict[str, Any] = {"id": op.id, "state": op.state, "progress": op.progress}
    if op.state == "succeeded":
        body["result"] = op.result()
    elif op.error is not None:
        body["error"] = op.error.message
    return body


def find(request: web.Request) -> lrpoll.Operation:
    """The operation the URL names, or 404."""
    op = request.app[SCHEDULER].get(request.match_info["id"])
    if op is None:
        raise web.HTTPNotFound(text="no such export")
    return op


@routes.post("/exports")
async def start_export(request: web.Request) -> web.Response:
    """Start an export; 202 with its id."""
    op = await request.app[SCHEDULER].start(
        "POST", "/api/exports", json=await request.json(), spec=EXPORT
    )
    return web.json_response({"id": op.id}, status=202)


@routes.get("/exports/{id}")
async def get_export(request: web.Request) -> web.Response:
    """Report an export; ``?wait=s`` waits up to s seconds for its end."""
    op = find(request)
    # The waiting handler gives up, the export does not: abandon="detach".
    with anyio.move_on_after(float(request.query.get("wait", 0))):
        with contextlib.suppress(lrpoll.LrpollError):  # no result: the report says why
            await op.wait(abandon="detach")
    return web.json_response(report(op))


@routes.delete("/exports/{id}")
async def cancel_export(request: web.Request) -> web.Response:
    """Cancel an export on the server; the confirmed outcome."""
    outcome = await find(request).cancel()
    return web.json_response({"kind": outcome.kind, "state": outcome.state})


def make_app(upstream: str, store: Path) -> web.Application:
    """The service, polling ``upstream`` and keeping checkpoints in ``store``."""
    app = web.Application()
    app.add_routes(routes)

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        checkpoints = lrpoll.DirectoryStore(store)
        async with lrpoll.Scheduler(base_url=upstream, checkpoint_store=checkpoints) as scheduler:
            await scheduler.resume_all()  # everything a previous run left, ended ones too
            app[SCHEDULER] = scheduler
            yield

    app.cleanup_ctx.append(scheduler_ctx)
    return app


@asynccontextmanager
async def running(upstream: str, store: Path) -> AsyncIterator[str]:
    """The service on a free port, as long as the block runs; its URL."""
    runner = web.AppRunner(make_app(upstream, store), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def serve(upstream: str, store: Path) -> None:
    """Serve on a free port until killed; print the URL first."""
    async with running(upstream, store) as url:
        print(f"listening on {url}", flush=True)
        await asyncio.Event().wait()


async def demo(store: Path) -> None:
    """Three exports: one cancelled, the service restarted, the rest finished after it."""
    script = JobScript.success(polls=12)
    async with FakeLROServer(default_script=script) as upstream, aiohttp.ClientSession() as http:
        async with running(upstream.base_url, store) as service:
            ids = []
            for table in ("orders", "users", "events"):
                async with http.post(f"{service}/exports", json={"table": table}) as answer:
                    ids.append((await answer.json())["id"])
            async with http.delete(f"{service}/exports/{ids[2]}") as answer:
                print("cancel:", await answer.json())
            async with http.get(f"{service}/exports/{ids[0]}?wait=0.2") as answer:
                print("after 0.2 s:", (await answer.json())["state"])
        # The service went away; the exports did not, and the store kept them.
        async with running(upstream.base_url, store) as service:
            for op_id in ids:
                async with http.get(f"{service}/exports/{op_id}?wait=10") as answer:
                    body = await answer.json()
                    print(body["state"], body.get("result"))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(serve(sys.argv[2], Path(sys.argv[3])))
    else:
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(demo(Path(directory)))
