"""Continue and Stitch, from a pressed button to what the member reads: handlers parse, the domain and the
ChainService decide and do, this says the outcome in the member's words."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence

import discord
from PIL import Image

from bot.discord_app import flows
from bot.discord_app.context import AppContext
from bot.discord_app.ui import text
from bot.domain.chain import ChainLink, can_stitch, continuation_request
from bot.domain.errors import UserFacingError
from bot.domain.images import MAX_IMAGE_BYTES, format_megabytes
from bot.domain.render import RenderRecord
from bot.domain.states import RenderState
from bot.media import CannotFit, NotPlayable, VideoTimeout
from bot.services.chains import (
    BrokenChain,
    ChainService,
    ClipUnavailable,
    NotDelivered,
    StitchBusy,
    chain_seconds,
)
from bot.services.ports import PermissionMissing, PublishError, UploadTooLarge

FRAME_JPEG_QUALITY = 95  # a frame too large as PNG (a 4K clip) goes as a JPEG a model can't tell apart


async def _render_here(context: AppContext, interaction: discord.Interaction, render_id: str) -> RenderRecord | None:
    render = await context.services.renders.get(render_id)
    return render if render is not None and render.guild_id == interaction.guild_id else None


async def continue_clip(
    context: AppContext, interaction: discord.Interaction, render_id: str, *, prompt: str, duration: str | None
) -> str:
    """Accept (or refuse) the next shot of a delivered clip; returns the reply. The interaction is deferred."""
    services = context.services
    assert interaction.guild_id is not None and interaction.channel_id is not None
    render = await _render_here(context, interaction, render_id)
    if render is None:
        return text.RENDER_UNKNOWN
    chains = services.chains
    if chains is None:
        return text.VIDEO_UNAVAILABLE
    if render.state is not RenderState.DELIVERED:
        return text.CONTINUE_NOT_DELIVERED
    defaults = await services.config.channel_defaults(interaction.guild_id, interaction.channel_id)
    choice = await services.generation.model_choice(interaction.guild_id)
    try:
        request = continuation_request(
            render.request, prompt=prompt, duration=duration, choice=choice, defaults=defaults
        )
    except UserFacingError as error:
        return error.message

    async def last_frame() -> bytes:
        return await _last_frame(chains, render)

    outcome = await flows.submit(
        context, interaction, request, [], last_frame=last_frame, chain=ChainLink.after(render)
    )
    return outcome.message


async def _last_frame(chains: ChainService, render: RenderRecord) -> bytes:
    try:
        png = await chains.last_frame(render)
    except NotDelivered as error:
        raise UserFacingError(text.CONTINUE_NOT_DELIVERED) from error
    except ClipUnavailable as error:
        raise UserFacingError(text.CONTINUE_NO_CLIP) from error
    except NotPlayable as error:
        raise UserFacingError(text.CONTINUE_NOT_PLAYABLE) from error
    except VideoTimeout as error:
        raise UserFacingError(text.VIDEO_TOO_SLOW) from error
    if len(png) <= MAX_IMAGE_BYTES:
        return png
    return await asyncio.to_thread(_as_jpeg, png)


def _as_jpeg(png: bytes) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(png)) as image:
        image.convert("RGB").save(out, format="JPEG", quality=FRAME_JPEG_QUALITY)
    return out.getvalue()


async def stitch_chain(context: AppContext, interaction: discord.Interaction, render_id: str) -> str:
    """Join the chain ending at this clip and post it in the channel (free); returns the reply. Deferred."""
    assert interaction.channel_id is not None
    render = await _render_here(context, interaction, render_id)
    if render is None:
        return text.RENDER_UNKNOWN
    chains = context.services.chains
    if chains is None:
        return text.VIDEO_UNAVAILABLE
    if not can_stitch(render):
        return text.STITCH_NOT_A_CHAIN
    limit = flows.upload_limit_of(interaction)
    user_id = interaction.user.id

    def content(clips: Sequence[RenderRecord]) -> str:
        return text.STITCH_MESSAGE.format(count=len(clips), seconds=chain_seconds(clips), user=user_id)

    try:
        stitched = await chains.stitch(
            render,
            channel_id=interaction.channel_id,
            reply_to=interaction.message.id if interaction.message is not None else render.result_message_id,
            max_bytes=limit,
            content=content,
        )
    except CannotFit as error:
        return text.STITCH_TOO_LARGE.format(limit=format_megabytes(limit), needed=format_megabytes(error.needed_bytes))
    except UploadTooLarge:
        return text.STITCH_REFUSED_LARGE
    except PermissionMissing:
        return text.STITCH_NO_PERMISSION
    except PublishError:
        return text.STITCH_NOT_POSTED
    except StitchBusy:
        return text.STITCH_BUSY
    except NotDelivered:
        return text.CONTINUE_NOT_DELIVERED
    except BrokenChain:
        return text.STITCH_BROKEN
    except ClipUnavailable:
        return text.STITCH_NO_CLIP
    except NotPlayable:
        return text.STITCH_NOT_PLAYABLE
    except VideoTimeout:
        return text.VIDEO_TOO_SLOW
    link = f"https://discord.com/channels/{interaction.guild_id}/{interaction.channel_id}/{stitched.message_id}"
    return text.STITCH_POSTED.format(count=len(stitched.clips), seconds=stitched.seconds, link=link)
