"""Presets: functions returning a `PollSpec` for protocols everybody meets."""

from __future__ import annotations

__all__: list[str] = []
