"""lrpoll's own CPU cost per poll, without aiohttp: scheduling, JSON parse, the core.

The scheduler runs with a sender (the raw layer beneath lrpoll's transport) that answers
every poll at once with a canned status document, so what remains is lrpoll's work per
poll: taking the due entry from the heap, the transport's origin check and JSON parse,
building the observation, `decide()` (expressions, progress, delay), applying the
decision and pushing the next entry. Printed as µs per poll, median of ``--reps`` runs,
beside the cost of the bare JSON parse for scale.

    python -m benchmarks.own_cost [--ops 10000] [--polls 200000] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import TYPE_CHECKING, Any

import lrpoll

if TYPE_CHECKING:
    from collections.abc import Mapping

    from yarl import URL

_BODY = json.dumps(
    {"id": "op-1", "status": "running", "progress": 42, "message": "Export in progress"}
).encode()
_HEADERS = {
    "content-type": "application/json",
    "content-length": str(len(_BODY)),
    "date": "Tue, 24 Nov 2026 03:10:00 GMT",
    "server": "bench",
}


class _CannedSender:
    """A `lrpoll.Sender` that answers every request at once with the canned document.

    Everything above the sender stays lrpoll's: the origin check, credentials, the cap,
    JSON parsing, the step, the core, the heap.
    """

    async def send(self, request: lrpoll.RawRequest) -> lrpoll.RawResponse:
        return lrpoll.RawResponse(200, _HEADERS, _BODY)

    def implicit_credentials(self, url: URL) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


async def _run(ops: int, polls: int, spec: lrpoll.PollSpec) -> float:
    async with lrpoll.Scheduler(
        base_url="http://127.0.0.1:1", slots=100, sender=_CannedSender()
    ) as scheduler:
        for i in range(ops):
            await scheduler.watch(f"/op/{i}", spec)
        # Sampling a counter: there is no event to wait on.
        while scheduler.statistics().polls_sent < ops:  # noqa: ASYNC110
            await asyncio.sleep(0)
        sent0, cpu0 = scheduler.statistics().polls_sent, time.process_time()
        while scheduler.statistics().polls_sent - sent0 < polls:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        sent1, cpu1 = scheduler.statistics().polls_sent, time.process_time()
    return 1e6 * (cpu1 - cpu0) / (sent1 - sent0)


def _parse_cost(n: int = 200_000) -> float:
    began = time.process_time()
    for _ in range(n):
        json.loads(_BODY)
    return 1e6 * (time.process_time() - began) / n


def measure(ops: int, polls: int, reps: int) -> Mapping[str, Any]:
    """Median µs per poll for a plain spec and one with messages, and the JSON parse alone."""
    plain = lrpoll.PollSpec(
        status_url="{+request_url}",
        interval=0.0,
        min_interval=0.0,
        done="status == 'done'",
        failed="status == 'failed'",
        progress="progress",
    )
    chatty = plain.replace(
        messages=lrpoll.Messages(in_progress="{last.message}: {progress}%"),
        retry_after_headers=("retry-after-ms", "retry-after"),
    )
    out: dict[str, Any] = {"ops": ops, "polls": polls, "reps": reps}
    for name, spec in (("plain", plain), ("messages", chatty)):
        runs = [asyncio.run(_run(ops, polls, spec)) for _ in range(reps)]
        out[f"{name}_us_per_poll"] = statistics.median(runs)
        out[f"{name}_runs"] = [round(r, 2) for r in runs]
    out["json_parse_us"] = statistics.median(_parse_cost() for _ in range(reps))
    return out


def main() -> None:
    """Print lrpoll's own cost per poll."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--polls", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.ops, args.polls, args.reps)
    print(json.dumps(result))
    print(
        f"lrpoll own cost per poll (no aiohttp): plain spec {result['plain_us_per_poll']:.1f} µs,"
        f" with a message template {result['messages_us_per_poll']:.1f} µs"
        f" (of which JSON parse {result['json_parse_us']:.1f} µs); median of {args.reps} runs"
    )


if __name__ == "__main__":
    main()
