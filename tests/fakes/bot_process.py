"""Runs the real bot (`python -m bot`) as a child process for end-to-end tests.

The child gets only the environment the test gives (plus PATH/locale basics and PYTHONPATH to the repo), so a
developer's own DISCORD_TOKEN can never leak in. Output (stdout and stderr merged) is captured for assertions
such as "no secret was printed". The process is killed on `stop()`, on leaving `async with`, and as a last
resort by a finalizer when the object is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")


def _kill_group(pid: int) -> None:
    """Finalizer: SIGKILL the child's process group (it leads its own session) if still alive."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class BotProcess:
    """`python -m bot [args]` with a controlled environment; use as `async with BotProcess(env, cwd) as bot:`.

    `module` exists so the harness itself can be tested with a stand-in; end-to-end tests leave it alone.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        cwd: Path,
        *,
        args: Sequence[str] = (),
        inherit_env: bool = False,
        module: str = "bot",
    ) -> None:
        self.cwd = Path(cwd)
        self.module = module
        self.args = list(args)
        base = dict(os.environ) if inherit_env else {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        self.env = base | dict(env)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.env.setdefault("HOME", str(self.cwd))
        self._proc: asyncio.subprocess.Process | None = None
        self._chunks: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._output_changed = asyncio.Event()
        self._finalizer: weakref.finalize[..., BotProcess] | None = None

    async def start(self) -> None:
        """Start the child; returns once it is spawned (not when it is ready)."""
        if self._proc is not None:
            raise RuntimeError("bot process already started")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._finalizer = weakref.finalize(self, _kill_group, self._proc.pid)
        self._reader = asyncio.create_task(self._read_output(), name="bot-process-output")

    async def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while chunk := await self._proc.stdout.read(4096):
            self._chunks.append(chunk.decode("utf-8", errors="replace"))
            self._output_changed.set()
        self._output_changed.set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def output(self) -> str:
        """Everything the child wrote to stdout and stderr so far."""
        return "".join(self._chunks)

    async def wait_ready(self, fake: FakeDiscord, timeout: float = 30.0, *, count: int | None = None) -> None:  # noqa: ASYNC109
        """Wait until the bot identified on the fake gateway and got its guilds (`count`-th identify)."""
        wanted = count if count is not None else 1 + len([i for i in fake.identifies if i.op == 2 and i.token_ok])
        identified = asyncio.create_task(fake.wait_identified(timeout, count=wanted))
        exited = asyncio.create_task(self.wait_exit(timeout))
        done, _ = await asyncio.wait({identified, exited}, return_when=asyncio.FIRST_COMPLETED)
        for task in (identified, exited):
            if task not in done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await task
        if exited in done and identified not in done:
            raise RuntimeError(f"bot exited ({self.returncode}) before identifying:\n{self.output()[-4000:]}")
        try:
            identified.result()
        except TimeoutError as exc:
            raise TimeoutError(f"bot did not identify within {timeout}s:\n{self.output()[-4000:]}") from exc

    async def wait_output(self, text: str, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        """Wait until `text` appears in the output; returns the output."""
        async with asyncio.timeout(timeout):
            while text not in self.output():
                if not self.running() and (self._reader is None or self._reader.done()):
                    raise RuntimeError(f"bot exited without printing {text!r}:\n{self.output()[-4000:]}")
                self._output_changed.clear()
                await self._output_changed.wait()
        return self.output()

    async def wait_exit(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """Wait for the child to exit on its own; returns its exit code."""
        assert self._proc is not None
        async with asyncio.timeout(timeout):
            code = await self._proc.wait()
            if self._reader is not None:
                await self._reader
        return code

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the child (SIGKILL by default: a crash, nothing flushed)."""
        if self.running():
            assert self._proc is not None
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    async def stop(self, timeout: float = 10.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM, wait up to `timeout`, then SIGKILL the whole group. Returns the exit code."""
        if self._proc is None:
            return None
        if self.running():
            self.kill(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), timeout)
            except TimeoutError:
                _kill_group(self._proc.pid)
                await self._proc.wait()
        # Reap anything the bot may have left in its process group.
        _kill_group(self._proc.pid)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._finalizer is not None:
            self._finalizer.detach()
        return self._proc.returncode

    async def __aenter__(self) -> BotProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
