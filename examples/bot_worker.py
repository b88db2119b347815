"""A chat bot's worker: 200 exports for 20 users, one edited message and one final each.

Each user's exports hang on a child token of the bot's token, so a user who leaves
cancels theirs with one call (and the bot could cancel everything with its own). The
bot edits one progress message per export, throttled to steps of 20 % and at most one
edit per 0.3 s (``progress_min_step``, ``progress_min_interval``), and posts the final
message once, from ``on_done``: ``on_progress`` skips the final update (``op.done``,
which is ``Update.final`` in ``op.updates()``).

Run it: ``python examples/bot_worker.py`` (a few seconds against the embedded fake).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript

USERS = 20
PER_USER = 10
EXPORT = lrpoll.PollSpec(
    status_url="/api/exports/{start.jobId}/status",
    interval=0.1,
    min_interval=0,
    first_poll_jitter=0.1,
    max_duration=60,
    done="status == 'done'",
    failed="status == 'failed'",
    cancelled="status == 'cancelled'",
    progress="progress",
    result="result",
    cancel=lrpoll.CancelSpec(url="/api/exports/{start.jobId}/cancel"),
)


class Chat:
    """A stand-in for the chat API: one message per export, edited, then a final one."""

    def __init__(self) -> None:
        self.edits: Counter[str] = Counter()
        self.finals: defaultdict[str, list[str]] = defaultdict(list)

    def on_progress(self, op: lrpoll.Operation) -> None:
        """Edit the export's progress message (the final answer is on_done's)."""
        if not op.done:
            self.edits[op.id] += 1

    def on_done(self, op: lrpoll.Operation) -> None:
        """Post the one final message."""
        self.finals[op.id].append(f"export {op.id}: {op.state}")


async def main() -> None:
    """Start every user's exports, let one user leave, wait for the rest."""
    chat = Chat()
    bot = lrpoll.CancelToken(reason="bot shutting down")
    script = JobScript.success(polls=10, seconds=2.0)  # ends 2 s after it starts
    async with (
        FakeLROServer(default_script=script) as server,
        lrpoll.Scheduler(base_url=server.base_url) as scheduler,
    ):
        users = {u: bot.child(reason=f"user {u} left") for u in range(USERS)}
        ops = await asyncio.gather(
            *(
                scheduler.start(
                    "POST",
                    "/api/exports",
                    json={"user": u},
                    spec=EXPORT,
                    operation_id=f"user{u}-export{n}",
                    token=users[u],
                    on_progress=chat.on_progress,
                    on_done=chat.on_done,
                    progress_min_step=20,
                    progress_min_interval=0.3,
                )
                for u in users
                for n in range(PER_USER)
            )
        )
        outcomes = await users[19].cancel()  # user 19 left the chat
        states = Counter([op.state async for op in scheduler.as_completed(ops)])
        polls = scheduler.statistics().polls_sent
    duplicates = [i for i, posted in chat.finals.items() if len(posted) != 1]
    print(f"{len(ops)} exports: {dict(states)}")
    print(f"user 19 left: {dict(Counter(o.kind for o in outcomes))}")
    print(f"{sum(chat.edits.values())} progress edits for {polls} polls")
    print(f"{sum(len(p) for p in chat.finals.values())} final messages, duplicates: {duplicates}")
    assert not duplicates
    assert len(chat.finals) == len(ops)


if __name__ == "__main__":
    asyncio.run(main())
