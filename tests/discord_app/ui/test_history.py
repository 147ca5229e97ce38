"""`/video history` pages and `/video show` cards: what a member reads, within Discord's limits whatever was typed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import discord
import pytest

from bot.discord_app.ui import fit, text
from bot.discord_app.ui import history as ui
from bot.discord_app.ui.views import DeleteButton, RegenerateButton, RemixButton
from bot.domain.models import load_model_table
from bot.domain.render import RenderRecord
from bot.domain.request import Shot
from bot.domain.states import RenderState
from bot.domain.validation import MAX_PROMPT_CHARS, MAX_SEED
from bot.services.history import Direction, HistoryFilter, HistoryPage
from tests.discord_app.fake_interaction import OTHER_GUILD, FakeInteraction
from tests.discord_app.ui.test_status import render_of, veo_request
from tests.storage.builders import CHANNEL, GUILD, T0, USER

MODELS = load_model_table()
BIGGEST_SNOWFLAKE = 2**64 - 1
HOSTILE = (
    "**bold** __under__ `code` [click](https://evil.example) > quote\n# heading\n@everyone @here "
    "<@&123456789012345678> 🎬"
)


def hostile_prompt(n: int) -> str:
    return (f"{n} " + HOSTILE * 40)[:MAX_PROMPT_CHARS]


def worst_renders() -> list[RenderRecord]:
    """Ten renders whose every part is as long as it gets: prompts, settings, state, takes, ids."""
    request = replace(
        veo_request(),
        seed=MAX_SEED,
        negative_prompt="blur",
        watermark=True,
        cfg_scale=0.37,
        multi_shot=True,
        shots=(Shot("a", 4), Shot("b", 4)),
    )
    return [
        render_of(
            replace(request, prompt=hostile_prompt(n)),
            RenderState.AWAITING_APPROVAL,
            id=f"{n:032x}",
            guild_id=BIGGEST_SNOWFLAKE,
            channel_id=BIGGEST_SNOWFLAKE,
            user_id=BIGGEST_SNOWFLAKE,
            status_message_id=BIGGEST_SNOWFLAKE,
            takes=4,
            take_index=4,
            created_at=T0 - timedelta(minutes=n),
        )
        for n in range(10)
    ]


def entries_of(description: str) -> list[str]:
    return description.split("\n\n")[1:]


def embed_size(embed: discord.Embed) -> int:
    parts = [embed.title or "", embed.description or "", embed.footer.text or ""]
    parts += [f"{f.name}{f.value}" for f in embed.fields]
    return sum(fit.size(part) for part in parts)


# ---- the page ------------------------------------------------------------------------------------------------------


def test_ten_of_the_longest_renders_fit_one_page_each_with_its_prompt_start_and_link() -> None:
    renders = worst_renders()
    page = HistoryPage(tuple(renders), 999, has_previous=True, has_next=True)

    embed = ui.history_embed(page, HistoryFilter(GUILD, member_id=BIGGEST_SNOWFLAKE), MODELS)

    assert embed.description is not None
    assert fit.size(embed.description) <= fit.EMBED_DESCRIPTION_LIMIT
    assert embed_size(embed) <= fit.EMBED_TOTAL_LIMIT
    entries = entries_of(embed.description)
    assert len(entries) == 10
    for n, (entry, render) in enumerate(zip(entries, renders, strict=True)):
        assert entry.startswith(f"**{9981 + n}.** “{n} \\*\\*bold")
        assert f"({ui.jump_link(render)})" in entry
        assert f"`{render.id[:8]}`" in entry
        assert "(take 4/4)" in entry


def test_prompts_are_escaped_on_one_line_and_ping_nobody() -> None:
    prompt = "@everyone **b** [c](https://e.example)\n# h @here <@&123456789012345678>"
    renders = [render_of(replace(veo_request(), prompt=prompt), id=f"{n:032x}") for n in range(10)]
    page = HistoryPage(tuple(renders), 1, has_previous=False, has_next=False)

    description = ui.history_embed(page, HistoryFilter(GUILD), MODELS).description or ""

    assert "@everyone" not in description and "@here" not in description
    assert "<@&" not in description
    assert re.search(r"(?<!\\)\[c\]\(", description) is None
    assert "**b**" not in description
    for entry in entries_of(description):
        lines = entry.split("\n")
        assert len(lines) == 3
        assert lines[0].endswith(") # h @\u200bhere <@\u200b&123456789012345678>”")  # whole, on its own line


def test_short_prompts_are_shown_whole_and_long_ones_shortened() -> None:
    short = render_of(replace(veo_request(), prompt="a fox\nin   snow"), RenderState.DELIVERED, result_message_id=7)
    long = render_of(replace(veo_request(), prompt="waves " * 300), RenderState.FAILED, id="f" * 32)
    page = HistoryPage((short, long), 1, has_previous=False, has_next=False)

    first, second = entries_of(ui.history_embed(page, HistoryFilter(GUILD), MODELS).description or "")

    assert first.startswith("**1.** “a fox in snow”")
    prompt = second.split("”")[0].removeprefix("**2.** “")
    assert prompt.endswith(fit.ELLIPSIS)
    assert fit.size(prompt) <= ui.PROMPT_PREVIEW


def test_an_entry_shows_settings_state_requester_and_when() -> None:
    render = render_of(veo_request(), RenderState.DELIVERED, result_message_id=77, user_id=USER)
    page = HistoryPage((render,), 1, has_previous=False, has_next=False)

    description = ui.history_embed(page, HistoryFilter(GUILD, channel_id=CHANNEL), MODELS).description or ""

    assert description.startswith(f"Renders in <#{CHANNEL}>\n\n")
    assert "Veo 3.1 · text · pro (1080p) · 8 s · 16:9 · sound · seed 7" in description
    assert f"✅ Done · <t:{int(T0.timestamp())}:R> · <@{USER}>" in description


def test_an_empty_history_says_so_in_words_without_buttons() -> None:
    page = HistoryPage((), 1, has_previous=False, has_next=False)

    shown = ui.history_message(page, HistoryFilter(GUILD, member_id=USER), USER, MODELS)

    assert shown["content"] == text.HISTORY_EMPTY.format(
        where=f"Renders in this server (the channels you can see, and all of yours) requested by <@{USER}>"
    )
    assert shown["embed"] is None and shown["view"] is None


# ---- jump links ----------------------------------------------------------------------------------------------------


def test_a_delivered_render_links_to_its_clip() -> None:
    render = render_of(veo_request(), RenderState.DELIVERED, status_message_id=5, result_message_id=6, thread_id=5)

    assert ui.jump_link(render) == f"https://discord.com/channels/{GUILD}/{CHANNEL}/6"


def test_a_render_not_delivered_links_to_its_card() -> None:
    render = render_of(veo_request(), RenderState.RENDERING, status_message_id=5)

    assert ui.jump_link(render) == f"https://discord.com/channels/{GUILD}/{CHANNEL}/5"


@pytest.mark.parametrize(
    "fields",
    [{"status_message_id": None}, {"status_message_id": 5, "chat_gone": True}],
    ids=["no card", "channel gone"],
)
def test_a_render_with_nothing_in_the_chat_has_no_link(fields: dict[str, object]) -> None:
    render = render_of(veo_request(), RenderState.FAILED, **fields)

    assert ui.jump_link(render) is None
    page = HistoryPage((render,), 1, has_previous=False, has_next=False)
    assert text.HISTORY_NO_MESSAGE in (ui.history_embed(page, HistoryFilter(GUILD), MODELS).description or "")


# ---- paging buttons ------------------------------------------------------------------------------------------------


def biggest_state(direction: Direction = Direction.NEXT) -> ui.PageButtonState:
    return ui.PageButtonState(
        owner_id=BIGGEST_SNOWFLAKE,
        guild_id=BIGGEST_SNOWFLAKE,
        member_id=BIGGEST_SNOWFLAKE,
        channel_id=BIGGEST_SNOWFLAKE,
        direction=direction,
        number=5000,
        cursor="f" * 32,
    )


def test_a_paging_button_carries_its_page_within_discords_custom_id_limit() -> None:
    state = biggest_state()

    custom_id = state.custom_id()

    assert len(custom_id) <= ui.CUSTOM_ID_LIMIT
    match = re.fullmatch(ui.PAGE_TEMPLATE, custom_id)
    assert match is not None
    assert ui.PageButtonState.parse(match) == replace(state, number=ui.MAX_PAGE_NUMBER)


def test_a_paging_button_without_filters_reads_back_without_them() -> None:
    state = ui.PageButtonState(USER, GUILD, None, None, Direction.PREVIOUS, 2, "0" * 32)

    match = re.fullmatch(ui.PAGE_TEMPLATE, state.custom_id())

    assert match is not None and ui.PageButtonState.parse(match) == state


def test_other_buttons_custom_ids_are_not_taken_for_paging() -> None:
    render_id = "0123456789abcdef0123456789abcdef"
    for button in (RegenerateButton(render_id), RemixButton(render_id), DeleteButton(render_id)):
        assert re.fullmatch(ui.PAGE_TEMPLATE, button.item.custom_id or "") is None


def test_previous_is_disabled_on_the_first_page_and_next_on_the_last() -> None:
    renders = worst_renders()[:3]
    page = HistoryPage(tuple(renders), 1, has_previous=False, has_next=False)

    view = ui.history_view(page, HistoryFilter(GUILD), USER)

    previous, following = view.children
    assert isinstance(previous, ui.HistoryPageButton) and isinstance(following, ui.HistoryPageButton)
    assert (previous.item.label, previous.item.disabled, previous.state.cursor) == ("Previous", True, renders[0].id)
    assert (following.item.label, following.item.disabled, following.state.cursor) == ("Next", True, renders[-1].id)
    assert following.state.number == 2


async def test_a_press_by_someone_else_reads_nothing() -> None:
    interaction = FakeInteraction()
    state = ui.PageButtonState(USER + 1, GUILD, None, None, Direction.NEXT, 2, "0" * 32)

    await ui.HistoryPageButton(state).callback(interaction.as_discord())

    assert interaction.recorder.events == [f"shown: {text.NOT_YOURS}"]


async def test_a_press_in_another_server_reads_nothing() -> None:
    interaction = FakeInteraction(guild_id=OTHER_GUILD)
    state = ui.PageButtonState(USER, GUILD, None, None, Direction.NEXT, 2, "0" * 32)

    await ui.HistoryPageButton(state).callback(interaction.as_discord())

    assert interaction.recorder.events == [f"shown: {text.HISTORY_ELSEWHERE}"]


# ---- /video show ---------------------------------------------------------------------------------------------------


def test_show_brings_back_a_delivered_renders_card_with_its_result_buttons_and_link() -> None:
    render = render_of(veo_request(), RenderState.DELIVERED, status_message_id=5, result_message_id=6)

    card = ui.show_card(render, render_timeout=3600.0, model=MODELS.get("veo-3.1"))

    assert card["embed"].footer.text == f"Request {render.id[:8]}"
    assert [b.label for b in card["view"].children] == ["Regenerate", "Remix", "Continue", "Delete"]
    assert card["content"] == text.SHOW_WHERE.format(link=f"https://discord.com/channels/{GUILD}/{CHANNEL}/6")


def test_show_of_a_failed_render_offers_regenerate_and_of_a_running_one_no_button() -> None:
    failed = render_of(veo_request(), RenderState.FAILED)
    running = render_of(veo_request(), RenderState.RENDERING)

    failed_card = ui.show_card(failed, render_timeout=3600.0, model=None)
    running_card = ui.show_card(running, render_timeout=3600.0, model=None)

    assert [b.label for b in failed_card["view"].children] == ["Regenerate"]
    assert running_card["view"] is None
    assert running_card["content"] is None  # no card in the chat yet: nothing to jump to
