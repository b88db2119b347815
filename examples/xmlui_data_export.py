"""XMLUI's "Data Export" page as a Python program.

The page (XMLUI how-to "Cancel a deferred API operation") declares one ``APICall`` and three
buttons: Start Export, Stop Polling and Cancel on Server. Here the spec comes from that
``<APICall …/>`` element's text, the buttons are ``scheduler.start``, ``op.stop()`` /
``op.resume()`` and ``op.cancel()``, and the toasts are printed. The backend is
`lrpoll.testing.FakeXmlui`, the job API of XMLUI's docs examples, 25 % per poll.

Run it: ``python examples/xmlui_data_export.py`` (about six seconds: the page polls every
second).
"""

from __future__ import annotations

import asyncio

import lrpoll
from lrpoll.presets.xmlui import xmlui_from_xml
from lrpoll.testing import FakeXmlui

# The element as the page writes it.
PAGE_API_CALL = """
<APICall
  id="exportJob"
  method="post"
  url="/api/exports"
  deferredMode="true"
  statusUrl="/api/exports/{$result.jobId}/status"
  pollingInterval="1000"
  maxPollingDuration="60000"
  completionCondition="{$statusData.status === 'done'}"
  errorCondition="{$statusData.status === 'failed'}"
  progressExtractor="{$statusData.progress}"
  cancelUrl="/api/exports/{$result.jobId}/cancel"
  cancelMethod="post"
  inProgressNotificationMessage="Export progress: {$progress}%"
  completedNotificationMessage="Export finished!"
/>
"""

# XMLUI fires its cancel and forgets it; lrpoll confirms it by polling, so it needs to know
# what a cancelled job looks like (lrpoll's own parameter, in the same expression language).
EXPORT = xmlui_from_xml(PAGE_API_CALL, cancelledCondition="$statusData.status === 'cancelled'")


async def show(op: lrpoll.Operation) -> None:
    """Print each new toast of ``op`` until it ends or stops."""
    last = None
    async for update in op.updates():
        if update.message is not None and update.message != last:
            print(f"  toast: {update.message}")
            last = update.message


async def start_export(scheduler: lrpoll.Scheduler) -> lrpoll.Operation:
    """The Start Export button: ``exportJob.execute()``."""
    return await scheduler.start(EXPORT.method, EXPORT.url or "", json={}, spec=EXPORT.spec)


async def main() -> None:
    """Press the page's buttons in three runs: finish, stop and resume, cancel."""
    async with FakeXmlui() as server, lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        print("Start Export")
        op = await start_export(scheduler)
        await show(op)
        print(f"  result: {await op}")

        print("Start Export, then Stop Polling after the first update")
        op = await start_export(scheduler)
        async for update in op.updates():
            if update.state == "running":
                print(f"  toast: {update.message}")
                op.stop()  # client side only: the job stays on the server
        job = list(server.jobs.values())[-1]
        print(f"  state: {op.state}; server job: {job.status} at {job.progress}%")
        print("Resume Polling")
        op.resume()  # XMLUI's resumePolling() only sets a flag; lrpoll polls again
        await show(op)
        print(f"  state: {op.state}")

        print("Start Export, then Cancel on Server after the first update")
        op = await start_export(scheduler)
        async for update in op.updates():
            print(f"  toast: {update.message}")
            break
        outcome = await op.cancel()
        print(f"  cancel: {outcome.kind} (HTTP {outcome.http_status}); state: {op.state}")
        try:
            await op
        except lrpoll.OperationCancelled as exc:
            print(f"  Export failed or was cancelled: {exc.message}")


if __name__ == "__main__":
    asyncio.run(main())
