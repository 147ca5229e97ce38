"""From a deferred interaction to an accepted (or refused) request: the path shared by the slash command,
the storyboard's Send button, Regenerate and Remix. Handlers parse; this calls the domain and renders."""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiohttp
import discord

from bot.discord_app.context import AppContext
from bot.discord_app.ui import text
from bot.domain.chain import FRAME_FILENAME, FRAME_OPTION, ChainLink
from bot.domain.errors import RequestValidationError, UserFacingError
from bot.domain.images import (
    MAX_IMAGE_BYTES,
    MIN_SIDE_PX,
    CheckedImage,
    check_image,
    check_min_side,
    fit_images_to_body,
    image_slots,
)
from bot.domain.models import ImageTransport
from bot.domain.quota_types import Requester
from bot.domain.request import AttachmentRef, VideoRequest
from bot.services.generation import Accepted, InputsGone

log = logging.getLogger(__name__)
P = ParamSpec("P")
S = TypeVar("S")

# The create body carries more than the images (prompt, settings, JSON punctuation): keep room for it.
BODY_OVERHEAD = 64 * 1024
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
REQUIRED_PERMISSIONS = ("send_messages", "embed_links", "attach_files", "read_message_history")


def missing_permissions(interaction: discord.Interaction) -> list[str]:
    """What the bot lacks in this channel to post status messages and clips (read from the interaction)."""
    perms = interaction.app_permissions
    return [name.replace("_", " ").title() for name in REQUIRED_PERMISSIONS if not getattr(perms, name)]


def requester_of(interaction: discord.Interaction) -> Requester:
    user = interaction.user
    roles = frozenset(role.id for role in getattr(user, "roles", ()) if not role.is_default())
    joined = getattr(user, "joined_at", None)
    return Requester(
        user_id=user.id,
        role_ids=roles,
        joined_at=joined,
        is_moderator=bool(interaction.permissions.manage_guild),
    )


def upload_limit_of(interaction: discord.Interaction) -> int:
    """The channel's upload limit for the bot, as Discord told us in this interaction (never hard-coded)."""
    limit = getattr(interaction, "filesize_limit", None)
    if isinstance(limit, int) and limit > 0:
        return limit
    return interaction.guild.filesize_limit if interaction.guild else 10 * 1024 * 1024


async def download_attachment(session: aiohttp.ClientSession, ref: AttachmentRef) -> bytes:
    """Fetch an attachment now, while its signed URL is valid; never more than the 10 MB the rules allow."""
    try:
        async with session.get(ref.url, timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status != 200:
                raise RequestValidationError(ref.option, text.DOWNLOAD_FAILED.format(option=ref.option))
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data.extend(chunk)
                if len(data) > MAX_IMAGE_BYTES:
                    raise RequestValidationError(ref.option, text.DOWNLOAD_TOO_LARGE.format(option=ref.option))
            return bytes(data)
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning("attachment %s download failed: %s", ref.option, type(error).__name__)
        raise RequestValidationError(ref.option, text.DOWNLOAD_FAILED.format(option=ref.option)) from error


def _check_and_fit(
    refs: list[AttachmentRef], datas: list[bytes], budget: int | None, min_side: int, model_name: str
) -> list[CheckedImage]:
    images = [check_image(ref.option, data) for ref, data in zip(refs, datas, strict=True)]
    for image in images:
        check_min_side(image, min_side, model_name)
    return images if budget is None else fit_images_to_body(images, budget)


async def checked_images(context: AppContext, refs: list[AttachmentRef], request: VideoRequest) -> list[CheckedImage]:
    """Download and check the attachments against the rules and the request's model; fit them in the body."""
    datas = await asyncio.gather(*(download_attachment(context.services.http, ref) for ref in refs))
    return await _checked(context, refs, list(datas), request)


async def _checked(
    context: AppContext, refs: list[AttachmentRef], datas: list[bytes], request: VideoRequest
) -> list[CheckedImage]:
    model = context.services.generation.model(request)
    spec = model.mode(request.generation_mode)
    min_side = spec.image_min_side if spec is not None else MIN_SIDE_PX
    budget: int | None = None
    if model.image_transport is not ImageTransport.URL:
        # The bytes travel in the body; a model that carries each image in two places (Seedance) has half the room.
        copies = spec.image_copies() if spec is not None else 1
        budget = (context.services.settings.api_body_limit_mb * 1024 * 1024 - BODY_OVERHEAD) // copies
    # Decoding (a large PNG takes about a second), stripping the metadata and re-encoding are CPU work: the image
    # threads do it, so the event loop keeps answering other members' interactions within Discord's 3-second
    # deadline meanwhile, and a crowd of requests queues for those threads rather than taking every core.
    return await context.services.intake.image_work(_check_and_fit, refs, datas, budget, min_side, model.name)


# Continue: the clip's last frame, fetched only once the request has passed its checks (it costs a download and a
# decode). It raises UserFacingError when the frame can't be had.
LastFrame = Callable[[], Awaitable[bytes]]


async def _continuation_frame(
    context: AppContext, interaction: discord.Interaction, request: VideoRequest, last_frame: LastFrame
) -> tuple[list[CheckedImage], dict[str, str]]:
    """The first frame checked like an attachment, and shown to the member: the reply's attachment URL is also
    where a model that fetches its images by URL takes it from."""
    data = await last_frame()
    ref = AttachmentRef(FRAME_OPTION, FRAME_FILENAME, url="", size=len(data), content_type="image/png")
    images = await _checked(context, [ref], [data], request)
    extension = images[0].mime.rsplit("/", 1)[-1].replace("jpeg", "jpg")
    shown = await interaction.edit_original_response(
        content=text.CONTINUE_FRAME,
        attachments=[discord.File(io.BytesIO(images[0].data), filename=f"last-frame.{extension}")],
        allowed_mentions=discord.AllowedMentions.none(),
    )
    return images, {FRAME_OPTION: shown.attachments[0].url} if shown.attachments else {}


@dataclass(frozen=True)
class Outcome:
    message: str
    accepted: Accepted | None = None


async def submit(
    context: AppContext,
    interaction: discord.Interaction,
    request: VideoRequest,
    attachments: list[AttachmentRef],
    *,
    last_frame: LastFrame | None = None,
    chain: ChainLink | None = None,
) -> Outcome:
    """Check quota, download and check images, accept. The interaction must already be deferred.

    Continue passes `last_frame` (the first frame of the request) and `chain` (the clip it continues); Regenerate
    and Remix of a continuation pass its `chain` again, so the new take continues the same clip.

    A member may have only a few requests with attachments at this stage at once (`Intake`): one more is refused
    before anything is downloaded, charged or stored. Requests without attachments (text, Regenerate, Remix) cost
    the bot no download or decoding, and pass; a Continue (a clip to download and decode) counts as one with.
    """
    if not attachments and last_frame is None:
        return await _prepare_and_accept(context, interaction, request, attachments, None, chain)
    slot = context.services.intake.claim(interaction.user.id)
    if slot is None:
        return Outcome(text.TOO_MANY_PREPARING.format(count=context.services.intake.per_member))
    with slot:
        return await _prepare_and_accept(context, interaction, request, attachments, last_frame, chain)


async def _prepare_and_accept(
    context: AppContext,
    interaction: discord.Interaction,
    request: VideoRequest,
    attachments: list[AttachmentRef],
    last_frame: LastFrame | None = None,
    chain: ChainLink | None = None,
) -> Outcome:
    services = context.services
    assert interaction.guild_id is not None and interaction.channel_id is not None
    requester = requester_of(interaction)
    # Regenerate and Remix come back to a model that may have been turned off since.
    choice = await services.generation.model_choice(interaction.guild_id)
    if request.model in choice.unavailable or request.model not in {spec.key for spec in choice.usable()}:
        reason = choice.unavailable.get(request.model, "it is no longer offered")
        return Outcome(text.MODEL_GONE.format(model=request.model, reason=reason))
    preview = await services.generation.preview(
        guild_id=interaction.guild_id, channel_id=interaction.channel_id, requester=requester, request=request
    )
    if preview.refusal is not None:
        return Outcome(text.format_refusal(preview.refusal, preview.cost))
    urls = {ref.option: ref.url for ref in attachments}
    try:
        if last_frame is not None:
            images, urls = await _continuation_frame(context, interaction, request, last_frame)
        else:
            images = await checked_images(context, attachments, request) if attachments else []
    except UserFacingError as error:
        return Outcome(error.message)
    if images:
        request = request.with_images(image_slots(images, urls))
    try:
        result = await services.generation.accept(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            requester=requester,
            request=request,
            images=images,
            upload_limit=upload_limit_of(interaction),
            chain=chain,
        )
    except InputsGone:
        return Outcome(text.IMAGES_NOT_KEPT)
    if not isinstance(result, Accepted):
        assert result.decision.refusal is not None
        return Outcome(text.format_refusal(result.decision.refusal, result.decision.cost))
    links = [
        f"https://discord.com/channels/{r.guild_id}/{r.channel_id}/{r.status_message_id}"
        for r in result.renders
        if r.status_message_id is not None
    ]
    return Outcome(text.format_accepted(result.decision, links, request.notes), result)


async def reply(interaction: discord.Interaction, message: str) -> None:
    """Answer ephemerally, whatever stage the interaction is at (fresh, deferred, or already answered)."""
    mentions = discord.AllowedMentions.none()
    if not interaction.response.is_done():
        await interaction.response.send_message(message, ephemeral=True, allowed_mentions=mentions)
    elif interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        # The "thinking…" placeholder is the reply the member is looking at: fill it in.
        await interaction.edit_original_response(content=message, allowed_mentions=mentions)
    else:
        await interaction.followup.send(message, ephemeral=True, allowed_mentions=mentions)


async def reply_safely(interaction: discord.Interaction, message: str) -> None:
    """`reply`, for error paths: a failure to answer (token expired, Discord down) is logged, not raised."""
    try:
        await reply(interaction, message)
    except (discord.HTTPException, aiohttp.ClientError, OSError) as error:
        log.warning(
            "could not answer interaction %s of user %s (%s)", interaction.id, interaction.user.id, type(error).__name__
        )


async def report_failure(interaction: discord.Interaction, error: Exception, where: str) -> None:
    """Tell the member what went wrong: a UserFacingError's own message, otherwise INTERNAL_ERROR (and log it)."""
    if isinstance(error, UserFacingError):
        message = error.message
    else:
        data: dict[str, Any] = dict(interaction.data or {})
        log.error(
            "%s failed: interaction %s, custom_id %s, user %s, guild %s, channel %s",
            where,
            interaction.id,
            data.get("custom_id"),
            interaction.user.id,
            interaction.guild_id,
            interaction.channel_id,
            exc_info=error,
        )
        message = text.INTERNAL_ERROR
    await reply_safely(interaction, message)


Handler = Callable[Concatenate[S, discord.Interaction, P], Coroutine[Any, Any, None]]


def guarded(handler: Handler[S, P]) -> Handler[S, P]:
    """Wrap a button callback or a modal's on_submit so a failure is answered like the command tree's on_error.

    discord.py's own handler for views and modals only logs: the member would be left on "thinking…" forever.
    """

    @functools.wraps(handler)
    async def run(self: S, interaction: discord.Interaction, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await handler(self, interaction, *args, **kwargs)
        except Exception as error:
            await report_failure(interaction, error, f"{type(self).__name__}.{handler.__name__}")

    return run
