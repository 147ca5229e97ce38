"""Small builders for storage tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.quota_types import Decision, Refusal, RefusalReason, UsageSnapshot
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import AspectRatio, GenerationMode, QualityMode, VideoRequest
from bot.domain.states import RenderState
from bot.storage.renders import RenderRepository

GUILD = 1_000_000_000_000_000_001
CHANNEL = 2_000_000_000_000_000_002
USER = 3_000_000_000_000_000_003
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def video_request(prompt: str = "a red fox running through snow", *, takes: int = 1) -> VideoRequest:
    return VideoRequest(
        prompt=prompt,
        generation_mode=GenerationMode.TEXT,
        mode=QualityMode.STD,
        duration=5,
        aspect_ratio=AspectRatio.WIDE,
        takes=takes,
    )


def new_render(
    *,
    guild_id: int = GUILD,
    user_id: int = USER,
    channel_id: int = CHANNEL,
    cost: int = 5,
    state: RenderState = RenderState.ACCEPTED,
    prompt: str = "a red fox running through snow",
) -> NewRender:
    return NewRender(
        guild_id=guild_id,
        channel_id=channel_id,
        user_id=user_id,
        request=video_request(prompt),
        cost=cost,
        upload_limit=25 * 1024 * 1024,
        state=state,
    )


def accept_all(usage: UsageSnapshot) -> Decision:
    return Decision(cost=0)


def refuse(usage: UsageSnapshot) -> Decision:
    return Decision(cost=0, refusal=Refusal(RefusalReason.PAUSED))


async def add_render(
    repo: RenderRepository,
    *,
    now: datetime = T0,
    takes: int = 1,
    **fields: Any,
) -> list[RenderRecord]:
    """Reserve one request (of `takes` takes) unconditionally."""
    decision, records = await repo.reserve([new_render(**fields) for _ in range(takes)], accept_all, now=now)
    assert decision.accepted
    return records
