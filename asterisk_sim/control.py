"""A channel's commands, one at a time, as Asterisk's control thread runs them.

Theory of operation
-------------------
Asterisk carries out what ARI asks of a channel in Stasis on the channel's own thread, one command
after another, in the order they were asked for (res/stasis/control.c). Most are queued and answered
at once (`stasis_app_send_command_async`): a play or a recording then takes its time there, and
whatever comes after it waits. A few are queued and waited for (`stasis_app_send_command`): answer
(res/res_stasis_answer.c), a variable set, a bridge joined or left, a bridge's video source; their
HTTP answer comes only once the commands before them have run. Seen on Asterisk 22: an answer, a
variable set and an addChannel asked for during a long play were answered when it was stopped, and
a recording asked for then started when it ended.

Here each target (`channel:<id>`, or `bridge:<id>` for a bridge's announcer) has the last command
queued on it: a command that takes time is a task that first waits for the one before it
(`_in_turn`); a command that is waited for waits for the last one queued (`turn`) before it acts.
`continue` and `move` are not waited for either, but what they do is heard: they act in their turn
(`_in_its_turn`). The other commands that take no time and are not waited for (hold, ring, DTMF, ...)
act at once: nothing an application hears tells them apart.

`World` (world.py) has this as its part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Command = Callable[[], Coroutine[Any, Any, None]]


class Controls:
    # The world's, set by World.__init__.
    _spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
    _last_command: dict[str, asyncio.Task[None]]

    def _in_turn(self, target_uri: str, command: Command) -> asyncio.Task[None]:
        """Queue `command` on `target_uri`: it runs once every command queued there before it has
        ended (run, stopped or cancelled). Made only then, so a command cancelled while it waits
        leaves no coroutine behind."""
        ahead = self._last_command.get(target_uri)

        async def when_its_turn_comes() -> None:
            if ahead is not None:
                await asyncio.wait({ahead})
            else:
                await asyncio.sleep(0)
            await command()

        task = self._spawn(when_its_turn_comes())
        self._last_command[target_uri] = task
        task.add_done_callback(lambda done: self._forget(target_uri, done))
        return task

    def _forget(self, target_uri: str, done: asyncio.Task[None]) -> None:
        if self._last_command.get(target_uri) is done:
            del self._last_command[target_uri]

    def _in_its_turn(self, channel_id: str, action: Callable[[], None]) -> None:
        """A command that is answered at once and takes no time (continue, move): carried out now if
        nothing is queued on the channel, else once what is queued there has ended."""
        target_uri = f"channel:{channel_id}"
        if target_uri not in self._last_command:
            action()
            return

        async def act() -> None:
            action()

        self._in_turn(target_uri, act)

    async def turn(self, channel_id: str) -> None:
        """For a command Asterisk waits for: until the commands queued on the channel before it have run."""
        ahead = self._last_command.get(f"channel:{channel_id}")
        if ahead is not None and not ahead.done():
            await asyncio.wait({ahead})
