"""``lrpoll serve``: one fake dialect of `lrpoll.testing` on loopback, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from ..testing import dialects
from ._exit import CliError

if TYPE_CHECKING:
    import argparse

    from ..testing import Dialect

__all__ = ["serve_command"]


def _dialect(name: str) -> Dialect:
    known = dialects()
    if name not in known:
        raise CliError(f"--dialect: no fake named {name!r} (known: {', '.join(sorted(known))})")
    return known[name]


async def _serve(dialect: Dialect, host: str, port: int) -> None:
    try:
        server = dialect.make(host, port)
    except ValueError as exc:
        raise CliError(f"--host: {exc}") from None
    try:
        await server.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(f"lrpoll serve: {dialect.summary}", flush=True)
        print(f"listening on {server.base_url}  (Ctrl-C stops it)", flush=True)
        print("\ntry it:", flush=True)
        for line in dialect.try_lines(server):
            print(f"  {line}", flush=True)
        await stop.wait()
        print(f"\nstopped; {len(server.requests)} request(s) served", flush=True)
    finally:
        await server.close()


def serve_command(args: argparse.Namespace) -> int:
    """Serve the dialect until Ctrl-C (or SIGTERM); 0 then."""
    if args.list:
        for name, dialect in sorted(dialects().items()):
            print(f"{name:<10} {dialect.summary}")
        return 0
    dialect = _dialect(args.dialect)
    asyncio.run(_serve(dialect, args.host, args.port))
    sys.stdout.flush()
    return 0
