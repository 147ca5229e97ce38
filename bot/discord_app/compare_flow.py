"""From a deferred `/video compare` to an accepted (or refused) compare: the models' requests were validated
(`bot.domain.compare`); here the total is checked against the quota, the first frame downloaded once and checked
for each model, and the group reserved, all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import discord

from bot.discord_app import flows
from bot.discord_app.context import AppContext
from bot.discord_app.ui import text
from bot.domain.compare import member_costs, shared_notes
from bot.domain.errors import UserFacingError
from bot.domain.images import CheckedImage, image_slots
from bot.domain.request import AttachmentRef, VideoRequest
from bot.services.generation import Accepted


async def submit_compare(
    context: AppContext,
    interaction: discord.Interaction,
    requests: Sequence[VideoRequest],
    attachments: list[AttachmentRef],
) -> flows.Outcome:
    """Check the total against the quota, download and check the images for every model, accept the group."""
    if not attachments:
        return await _prepare_and_accept(context, interaction, list(requests), attachments)
    slot = context.services.intake.claim(interaction.user.id)
    if slot is None:
        return flows.Outcome(text.TOO_MANY_PREPARING.format(count=context.services.intake.per_member))
    with slot:
        return await _prepare_and_accept(context, interaction, list(requests), attachments)


async def _prepare_and_accept(
    context: AppContext,
    interaction: discord.Interaction,
    requests: list[VideoRequest],
    attachments: list[AttachmentRef],
) -> flows.Outcome:
    services = context.services
    assert interaction.guild_id is not None and interaction.channel_id is not None
    requester = flows.requester_of(interaction)
    # What quota and approval rules look at is shared by the models (mode, length, images): the first stands for
    # them all, as many renders as there are models, at the total cost.
    standing = _standing_for(requests)
    preview = await services.generation.preview(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        requester=requester,
        request=standing,
        members=requests,
    )
    if preview.refusal is not None:
        return flows.Outcome(text.format_refusal(preview.refusal, preview.cost))
    images: list[CheckedImage] = []
    if attachments:
        try:
            requests, images = await _checked_for_each(context, attachments, requests)
        except UserFacingError as error:
            return flows.Outcome(error.message)
        standing = _standing_for(requests)
    result = await services.generation.accept(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        requester=requester,
        request=standing,
        images=images,
        upload_limit=flows.upload_limit_of(interaction),
        members=requests,
    )
    if not isinstance(result, Accepted):
        assert result.decision.refusal is not None
        return flows.Outcome(text.format_refusal(result.decision.refusal, result.decision.cost))
    links = list(
        dict.fromkeys(
            f"https://discord.com/channels/{r.guild_id}/{r.channel_id}/{r.status_message_id}"
            for r in result.renders
            if r.status_message_id is not None
        )
    )
    names = [services.generation.model(request).name for request in requests]
    costs = list(zip(names, member_costs(requests, services.models), strict=True))
    return flows.Outcome(text.format_compare_accepted(result.decision, costs, links, shared_notes(requests)), result)


def _standing_for(requests: Sequence[VideoRequest]) -> VideoRequest:
    return replace(requests[0], takes=len(requests))


async def _checked_for_each(
    context: AppContext, refs: list[AttachmentRef], requests: list[VideoRequest]
) -> tuple[list[VideoRequest], list[CheckedImage]]:
    """Download the images once, check them against each model's own rules (its smallest side, what fits its
    request body), and give each model's request the images checked for it."""
    datas = list(await asyncio.gather(*(flows.download_attachment(context.services.http, ref) for ref in refs)))
    urls = {ref.option: ref.url for ref in refs}
    checked: list[VideoRequest] = []
    every: dict[str, CheckedImage] = {}
    for request in requests:
        # flows' own check of downloaded bytes for one model (shared within the Discord layer).
        images = await flows._checked(context, refs, datas, request)
        checked.append(request.with_images(image_slots(images, urls)))
        every.update((image.sha256, image) for image in images)
    return checked, list(every.values())
