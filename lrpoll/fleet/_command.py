"""``python -m lrpoll.fleet worker``: run a fleet worker from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import signal
import sys
from typing import TYPE_CHECKING

import anyio

from .._auth import BearerToken
from .._sender import Limits
from .._transport import HTTP_CLIENTS
from ._client import DEFAULT_SHARDS
from ._worker import Worker

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._auth import Credential

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lrpoll.fleet", description="lrpoll fleet: a durable schedule on Redis."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="poll the fleet's due operations until stopped")
    worker.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL")
    worker.add_argument("--namespace", default="default", help="fleet namespace")
    worker.add_argument("--shards", type=int, default=DEFAULT_SHARDS, help="shard count")
    worker.add_argument("--slots", type=int, default=100, help="polls in flight at most")
    worker.add_argument("--name", default=None, help="this worker's name in leases")
    worker.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a trusted origin of the 'default' auth profile (repeatable)",
    )
    worker.add_argument(
        "--bearer-env",
        action="append",
        default=[],
        metavar="ORIGIN=VAR",
        help="trust ORIGIN and send the bearer token held in environment variable VAR",
    )
    worker.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin polled without credentials (repeatable)",
    )
    worker.add_argument("--timeout", type=float, default=30.0, help="request timeout (s)")
    worker.add_argument(
        "--http",
        choices=HTTP_CLIENTS,
        default="aiohttp",
        help="the HTTP client: aiohttp's, or lrpoll's own HTTP/1.1 (lean)",
    )
    worker.add_argument("--lease-margin", type=float, default=5.0, help="lease beyond timeout (s)")
    worker.add_argument("--max-sleep", type=float, default=1.0, help="longest idle sleep (s)")
    return parser


def build_worker(argv: Sequence[str]) -> Worker:
    """The worker ``python -m lrpoll.fleet worker ARGS`` runs (its 'default' profile set up).

    Raises:
        SystemExit: for bad arguments, or a ``--bearer-env`` variable that is not set.
    """
    args = _parser().parse_args(list(argv))
    credentials: dict[str, Credential] = {}
    for item in args.bearer_env:
        origin, _, var = item.partition("=")
        token = os.environ.get(var)
        if not origin or not var or token is None:
            raise SystemExit(f"--bearer-env {item!r}: expected ORIGIN=VAR with VAR set")
        credentials[origin] = BearerToken(token)
    worker = Worker(
        args.redis,
        namespace=args.namespace,
        shards=args.shards,
        slots=args.slots,
        name=args.name,
        limits=Limits(timeout=args.timeout),
        lease_margin=args.lease_margin,
        max_sleep=args.max_sleep,
        http=args.http,
    )
    worker.auth("default", credentials, trusted_origins=args.trust, allow_origins=args.allow)
    return worker


async def _serve(worker: Worker) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                tg.cancel_scope.cancel()
                return


def freeze_startup() -> None:
    """Move every object made so far out of the garbage collector's view, for good.

    A worker process keeps what importing and configuring made (modules, the worker, its
    profiles) until it exits; without this, each full collection walks all of it again
    while polling allocates. A collection first, so no garbage is frozen with them.
    """
    gc.collect()
    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m lrpoll.fleet ARGS`` (``worker`` is the one command); the exit status.

    SIGINT and SIGTERM stop the worker: polls in flight are abandoned, their leases lapse
    and other workers poll those operations again. What starting made is frozen out of
    the garbage collector's view (`freeze_startup`) before the worker runs. On the way
    out it writes its statistics as one JSON line to standard output.
    """
    worker = build_worker(sys.argv[1:] if argv is None else argv)
    freeze_startup()
    anyio.run(_serve, worker)
    stats = {"worker": worker.name, **dataclasses.asdict(worker.statistics)}
    sys.stdout.write(json.dumps(stats) + "\n")
    sys.stdout.flush()
    return 0
