"""Peak memory of the bot while it delivers a large clip.

The fake API generates the clip on the fly and the fake Discord spools the upload to disk, so neither side
needs the clip in memory; the bot's peak resident memory (VmHWM) before and after the delivery shows whether the
bot streamed it (download to a temporary file, upload from it) or held it whole.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from bench.harness import MIB, Memory, World, read_memory, wait_until, world
from tests.fakes.discord import FakeInteraction, FakeMessage

SMALL_CLIP = 256 * 1024
POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class MemoryResult:
    clip_bytes: int
    uploaded_bytes: int  # what the fake Discord received as the attachment (0: linked, not attached)
    before: Memory  # after a small clip went through the same path
    after: Memory
    small_seconds: float  # slash command to small clip in the channel
    large_seconds: float  # slash command to large clip in the channel
    leftover_files: int  # temporary clip files still in the bot's work dir afterwards (should be 0)


async def _deliver(w: World, n: int, within: float) -> float:
    """Send one command and wait for its clip message; returns the seconds from command to clip."""
    before = {m.id for m in w.discord.messages() if m.attachments}
    interaction: FakeInteraction = await w.slash_generate(n)
    await w.answered(interaction)

    def clip() -> FakeMessage | None:
        return next((m for m in w.discord.messages() if m.attachments and m.id not in before), None)

    await wait_until(lambda: clip() is not None, within=within, interval=0.05, what="clip delivered")
    message = clip()
    assert message is not None and interaction.sent_at is not None
    return message.created_at - interaction.sent_at


async def run(*, clip_mb: int) -> MemoryResult:
    clip_bytes = clip_mb * MIB
    # The channel's upload limit is raised above the clip so that it is attached (and so streamed both ways).
    async with world(upload_limit=clip_bytes + 16 * MIB) as w:
        w.api.configure(render_polls=1, outcome="success", video_size=SMALL_CLIP)
        await w.start_bot(POLL_INTERVAL_SECONDS=str(POLL_INTERVAL), MAX_CLIP_MB=str(clip_mb + 16))
        # The small clip warms up every code path the large one takes, so the difference is the clip's size.
        small_seconds = await _deliver(w, 0, within=60)
        before = read_memory(w.bot_pid)
        w.api.configure(video_size=clip_bytes)
        large_seconds = await _deliver(w, 1, within=300)
        after = read_memory(w.bot_pid)
        uploaded = max((u.size for u in w.discord.uploads), default=0)
        work_dir = w.workdir / "data" / "tmp"

        def leftovers() -> int:
            return len(list(work_dir.glob("*"))) if work_dir.exists() else 0

        # The bot removes the temporary file once Discord's answer reaches it, just after the fake recorded the
        # message: give it a moment before counting what was left behind.
        with contextlib.suppress(TimeoutError):
            await wait_until(lambda: leftovers() == 0, within=5, interval=0.05)
        return MemoryResult(
            clip_bytes=clip_bytes,
            uploaded_bytes=uploaded,
            before=before,
            after=after,
            small_seconds=small_seconds,
            large_seconds=large_seconds,
            leftover_files=leftovers(),
        )
