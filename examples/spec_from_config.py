"""Keep specs in configuration: the JSON form, read back and validated.

A spec is plain data: `PollSpec.to_json()` writes it, `PollSpec.from_json()` reads it
with the same checks as the constructor, so a typo in a configuration file fails when
the file is loaded, naming the field and the position.

Run it: ``python examples/spec_from_config.py``.
"""

from __future__ import annotations

import asyncio
import json

import lrpoll
from lrpoll.testing import FakeLROServer

CONFIG = """
{
  "exports": {
    "status_url": "/api/exports/{start.jobId}/status",
    "interval": 0.1,
    "min_interval": 0,
    "max_duration": 60,
    "done": "status == 'done'",
    "failed": "status == 'failed'",
    "progress": "progress",
    "result": "result.url",
    "messages": {"in_progress": "{progress}%", "completed": "ready: {result}"}
  },
  "broken": {
    "status_url": "/api/exports/{start.jobId}/status",
    "done": "status == 'done"
  }
}
"""


def load(config: str) -> dict[str, lrpoll.PollSpec]:
    """Read every spec in ``config``, reporting the broken ones."""
    specs = {}
    for name, data in json.loads(config).items():
        try:
            specs[name] = lrpoll.PollSpec.from_json(data)
        except lrpoll.SpecError as exc:
            print(f"config: spec {name!r} is broken: {exc}")
    return specs


async def main() -> None:
    """Load the specs, then use one against the fake server."""
    specs = load(CONFIG)
    async with FakeLROServer() as server, lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        op = await scheduler.start("POST", "/api/exports", json={}, spec=specs["exports"])
        async for update in op.updates():
            print(update.state, update.message)
        print("download:", await op)
    print(json.dumps(specs["exports"].to_json()["messages"]["completed"]))


if __name__ == "__main__":
    asyncio.run(main())
