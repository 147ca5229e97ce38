"""`/video`: what members use. Handlers parse the options, call the domain and services, and render."""

from __future__ import annotations

import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import flows
from bot.discord_app.compare_flow import submit_compare
from bot.discord_app.context import AppContext, client_context
from bot.discord_app.model_choices import model_choices, offer_choices
from bot.discord_app.ui import history as history_ui
from bot.discord_app.ui import text
from bot.discord_app.ui.models_card import models_embed
from bot.discord_app.ui.storyboard import StoryboardDraft, StoryboardModal
from bot.domain.compare import MODEL_OPTIONS, validate_compare
from bot.domain.errors import UserFacingError
from bot.domain.quota import is_exempt, member_daily_limit, next_reset
from bot.domain.request import AttachmentRef, ChannelDefaults, RawOptions
from bot.domain.validation import MAX_SEED, ModelChoice, attachments_of, validate_options
from bot.services.history import HistoryFilter

log = logging.getLogger(__name__)


def attachment_ref(option: str, attachment: discord.Attachment | None) -> AttachmentRef | None:
    if attachment is None:
        return None
    return AttachmentRef(
        option=option,
        filename=attachment.filename,
        url=attachment.url,
        size=attachment.size,
        content_type=attachment.content_type,
    )


@app_commands.guild_only()
class VideoCog(commands.GroupCog, group_name="video", group_description="Generate AI video clips"):
    def __init__(self, context: AppContext) -> None:
        self.context = context
        super().__init__()
        offer_choices(self.generate, "model", model_choices(context.services.models))
        for option in MODEL_OPTIONS:
            offer_choices(self.compare, option, model_choices(context.services.models))

    @app_commands.command(name="generate")
    @app_commands.describe(
        prompt="What the clip should show (up to 2500 characters; mention references as <<<image_1>>>)",
        model="Which video model renders it (/video models lists what each takes and costs)",
        generation_mode="text, image (first/last frame) or reference; inferred from attachments when left out",
        mode="std: 720p, faster · pro: 1080p, costs more",
        duration="Length in seconds (each model has its own range); with multi_shot, the total of the shots",
        aspect_ratio="Shape of the clip (each model takes its own; ignored in image mode: the image decides)",
        sound="Native audio, for models that make it (default: the model's own)",
        seed="Repeat a take: the same seed and settings give the same clip (models that take a seed)",
        multi_shot="Open a storyboard to describe up to 6 shots",
        negative_prompt="What the clip should avoid",
        cfg_scale="How closely to follow the prompt, 0 to 1 (default 0.5)",
        watermark="Add ModelStream's watermark",
        first_frame="Image mode: the start frame (PNG or JPEG)",
        last_frame="Image mode: the end frame (needs first_frame)",
        reference_1="Reference mode: image <<<image_1>>>",
        reference_2="Reference mode: image <<<image_2>>>",
        reference_3="Reference mode: image <<<image_3>>>",
        reference_4="Reference mode: image <<<image_4>>>",
        takes="How many variants to render in parallel (1-4); each costs its credits",
    )
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2500],
        model: str | None = None,
        generation_mode: Literal["text", "image", "reference"] | None = None,
        mode: Literal["std", "pro"] | None = None,
        duration: app_commands.Range[int, 1, 16] | None = None,
        aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"] | None = None,
        sound: bool | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        multi_shot: bool | None = None,
        negative_prompt: app_commands.Range[str, 1, 2500] | None = None,
        cfg_scale: app_commands.Range[float, 0.0, 1.0] | None = None,
        watermark: bool | None = None,
        first_frame: discord.Attachment | None = None,
        last_frame: discord.Attachment | None = None,
        reference_1: discord.Attachment | None = None,
        reference_2: discord.Attachment | None = None,
        reference_3: discord.Attachment | None = None,
        reference_4: discord.Attachment | None = None,
        takes: app_commands.Range[int, 1, 4] | None = None,
    ) -> None:
        """Turn a prompt (and optional images) into a video clip"""
        # Everything before the defer below is synchronous: Discord's 3-second deadline holds whatever the
        # network, the database or the API are doing.
        missing = flows.missing_permissions(interaction)
        if missing:
            await flows.reply(interaction, text.MISSING_PERMISSIONS.format(missing=", ".join(missing)))
            return
        raw = RawOptions(
            prompt=prompt,
            model=model,
            generation_mode=generation_mode,
            mode=mode,
            duration=duration,
            aspect_ratio=aspect_ratio,
            multi_shot=bool(multi_shot),
            negative_prompt=negative_prompt,
            cfg_scale=cfg_scale,
            watermark=watermark,
            sound=sound,
            seed=seed,
            first_frame=attachment_ref("first_frame", first_frame),
            last_frame=attachment_ref("last_frame", last_frame),
            references=tuple(
                attachment_ref(f"reference_{n}", a)
                for n, a in enumerate((reference_1, reference_2, reference_3, reference_4), start=1)
            ),
            takes=takes,
        )
        if raw.multi_shot:
            await self._open_storyboard(interaction, raw)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None and interaction.channel_id is not None
        defaults = await self.context.services.config.channel_defaults(interaction.guild_id, interaction.channel_id)
        choice = await self.context.services.generation.model_choice(interaction.guild_id)
        try:
            request = validate_options(raw, defaults, choice)
        except UserFacingError as error:
            await flows.reply(interaction, error.message)
            return
        outcome = await flows.submit(self.context, interaction, request, attachments_of(raw))
        await flows.reply(interaction, outcome.message)

    @app_commands.command(name="compare")
    @app_commands.describe(
        prompt="What every model should show (up to 2500 characters)",
        model_a="The first model",
        model_b="The second model",
        model_c="A third model, if you like",
        mode="std: 720p, faster · pro: 1080p, costs more",
        duration="Length in seconds, the same for every model (each must take it)",
        aspect_ratio="Shape of the clips (ignored in image mode: the image decides)",
        sound="Native audio, for models that make it",
        negative_prompt="What the clips should avoid",
        first_frame="Image mode: the start frame every model begins from (PNG or JPEG)",
    )
    async def compare(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2500],
        model_a: str,
        model_b: str,
        model_c: str | None = None,
        mode: Literal["std", "pro"] | None = None,
        duration: app_commands.Range[int, 1, 16] | None = None,
        aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"] | None = None,
        sound: bool | None = None,
        negative_prompt: app_commands.Range[str, 1, 2500] | None = None,
        first_frame: discord.Attachment | None = None,
    ) -> None:
        """Render one prompt with 2 or 3 models, side by side in one message"""
        missing = flows.missing_permissions(interaction)
        if missing:
            await flows.reply(interaction, text.MISSING_PERMISSIONS.format(missing=", ".join(missing)))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None and interaction.channel_id is not None
        raw = RawOptions(
            prompt=prompt,
            mode=mode,
            duration=duration,
            aspect_ratio=aspect_ratio,
            sound=sound,
            negative_prompt=negative_prompt,
            first_frame=attachment_ref("first_frame", first_frame),
        )
        chosen = (model_a, model_b, model_c)
        picked = [(option, key) for option, key in zip(MODEL_OPTIONS, chosen, strict=True) if key]
        defaults = await self.context.services.config.channel_defaults(interaction.guild_id, interaction.channel_id)
        choice = await self.context.services.generation.model_choice(interaction.guild_id)
        try:
            requests = validate_compare(raw, picked, defaults, choice)
        except UserFacingError as error:
            await flows.reply(interaction, error.message)
            return
        outcome = await submit_compare(self.context, interaction, requests, attachments_of(raw))
        await flows.reply(interaction, outcome.message)

    async def _open_storyboard(self, interaction: discord.Interaction, raw: RawOptions) -> None:
        # The modal must be the first response, so only what is in memory may be consulted here; the channel
        # defaults are read once the modal is submitted (and deferred), through the same validation.
        services = self.context.services
        try:
            # Only the model's own rules here (no awaits before the modal); the submit checks everything again.
            validate_options(raw, ChannelDefaults(), ModelChoice(services.models, services.settings.default_model))
        except UserFacingError as error:
            await flows.reply(interaction, error.message)
            return
        draft = StoryboardDraft(interaction.user.id, raw)
        await interaction.response.send_modal(StoryboardModal(draft))

    @app_commands.command(name="models")
    async def models(self, interaction: discord.Interaction) -> None:
        """See the video models you can use here: what each accepts and what it costs"""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        choice = await self.context.services.generation.model_choice(interaction.guild_id)
        await interaction.edit_original_response(
            embed=models_embed(choice), allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="quota")
    async def quota(self, interaction: discord.Interaction) -> None:
        """See your video credits left today, when they reset, and your renders in flight"""
        await interaction.response.defer(ephemeral=True, thinking=True)
        services = self.context.services
        assert interaction.guild_id is not None
        now = services.clock()
        rules = await services.config.rules(interaction.guild_id)
        requester = flows.requester_of(interaction)
        usage = await services.renders.member_snapshot(interaction.guild_id, interaction.user.id, now)
        limit = member_daily_limit(rules, requester)
        exempt = is_exempt(rules, requester)
        lines = []
        if exempt or limit is None:
            lines.append("You have **unlimited** credits today.")
        else:
            left = max(0, limit + usage.member_granted_today - usage.member_used_today)
            lines.append(
                f"You have **{left}** of {limit + usage.member_granted_today} credits left today; "
                f"they reset {text.ts(next_reset(now))}."
            )
        cap = rules.max_in_flight_per_member
        in_flight = f"{usage.member_in_flight}" + (f" of {cap}" if cap is not None and not exempt else "")
        lines.append(f"Renders in flight: **{in_flight}**.")
        waiting = await services.renders.waiting_renders(interaction.guild_id, interaction.user.id)
        lines += text.queue_lines([(render.id, render.queue_place) for render in waiting])
        lines.append("Each model has its own cost per second: `/video models` lists them.")
        if rules.paused:
            lines.append("Video generation is currently **paused** by the moderators.")
        if requester.is_moderator and (rules.daily_budget is not None or rules.monthly_budget is not None):
            today, month = await services.renders.guild_spend(interaction.guild_id, now)
            if rules.daily_budget is not None:
                lines.append(f"Server budget today: {max(0, rules.daily_budget - today)} of {rules.daily_budget} left.")
            if rules.monthly_budget is not None:
                lines.append(
                    f"Server budget this month: {max(0, rules.monthly_budget - month)} of {rules.monthly_budget} left."
                )
        await flows.reply(interaction, "\n".join(lines))

    @app_commands.command(name="history")
    @app_commands.describe(
        member="Only this member's renders",
        scope="channel: this channel only · server: every channel you can see (the default)",
    )
    async def history(
        self,
        interaction: discord.Interaction,
        member: discord.User | None = None,
        scope: Literal["channel", "server"] = "server",
    ) -> None:
        """Find recent renders again: prompts, settings, who asked, and links to the clips"""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        filters = HistoryFilter(
            interaction.guild_id,
            member_id=member.id if member is not None else None,
            channel_id=interaction.channel_id if scope == "channel" else None,
        )
        await history_ui.send_history(interaction, filters)

    @app_commands.command(name="show")
    @app_commands.rename(request_id="id")
    @app_commands.describe(request_id="The id at the bottom of its card (Request abcd1234), or the whole id")
    async def show(self, interaction: discord.Interaction, request_id: app_commands.Range[str, 1, 100]) -> None:
        """Bring back one render's card and its buttons, by its request id"""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await history_ui.send_card(interaction, request_id)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(VideoCog(client_context(bot)))
