"""Message contents that carry untrusted text (storyboard shots, result links, prompts, API reasons), built to fit.

Each returns text Discord will accept whatever the member typed or the API answered: within 2,000 characters,
escaped, pinging nobody who was not meant to be pinged. When the full form is too long, a shorter one is chosen
that still says what happened. Pure: views and the publisher only send what these return.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.discord_app.ui import fit, text
from bot.discord_app.ui.status import storyboard_lines
from bot.domain.render import RenderRecord
from bot.domain.request import Shot
from bot.domain.states import RenderState

# The prompt quoted in a DM: enough to recognise the request, short enough to leave room for the link.
DM_PROMPT_LIMIT = 200


def storyboard_preview(shots: Sequence[Shot], *, total: int, cost: int) -> str:
    """The preview shown before Send: every shot, numbered with its length, then the cost.

    Six shots of 512 characters do not fit one message: then each shot gets a fair share of the room (short
    ones whole, long ones cut evenly) and a line says the request keeps every shot in full.
    """
    full = _preview(storyboard_lines(shots, limit=None), len(shots), total=total, cost=cost, shortened=False)
    if fit.size(full) <= fit.CONTENT_LIMIT:
        return full
    room = fit.CONTENT_LIMIT - fit.size(_preview("", len(shots), total=total, cost=cost, shortened=True))
    return fit.fit_content(
        _preview(storyboard_lines(shots, limit=room), len(shots), total=total, cost=cost, shortened=True)
    )


def _preview(lines: str, count: int, *, total: int, cost: int, shortened: bool) -> str:
    block = f"{lines}\nTotal: {total} s" + (f"\n{text.STORYBOARD_SHORTENED}" if shortened else "")
    return text.STORYBOARD_PREVIEW.format(
        count=count, plural="" if count == 1 else "s", total=total, shots=block, cost=cost
    )


def storyboard_fix(error: str) -> str:
    """A broken storyboard's error (the bot's own words, which may quote the member's text) and how to go on."""
    room = fit.CONTENT_LIMIT - fit.size(text.STORYBOARD_FIX.format(error=""))
    return text.STORYBOARD_FIX.format(error=fit.neutral(error, room))


def clip_link(user_id: int, url: str | None, size: int | None) -> str:
    """The channel message for a clip too large to upload: its link in a sentence, else the bare link, else
    the reason no link can be given (none, not a web link, or longer than a message)."""
    link = fit.safe_link(url)
    if link is None:
        return text.CLIP_NO_LINK.format(user=user_id)
    shown_size = f"{size / 1_048_576:.1f} MB" if size else "over the limit"
    for form in (text.CLIP_LINK, text.CLIP_LINK_SHORT):
        content = form.format(user=user_id, url=link, size=shown_size)
        if fit.size(content) <= fit.CONTENT_LIMIT:
            return content
    return text.CLIP_LINK_TOO_LONG.format(user=user_id)


def clip_fitted(user_id: int, url: str | None) -> str:
    """The message of a clip re-encoded to fit the upload limit: the original's link beside it when it has one
    that fits in a message."""
    link = fit.safe_link(url)
    if link is not None:
        content = text.CLIP_FITTED.format(user=user_id, url=link)
        if fit.size(content) <= fit.CONTENT_LIMIT:
            return content
    return text.CLIP_FITTED_NO_LINK.format(user=user_id)


def requester_dm(render: RenderRecord, *, url: str | None, render_timeout: float) -> str:
    """The DM telling the requester what became of `render` when its channel can't be used."""
    prompt = fit.quote(render.request.prompt, DM_PROMPT_LIMIT)
    if render.state in (RenderState.FAILED, RenderState.DENIED):
        reason = text.failure_reason(render.failure_kind, render.failure_detail, render_timeout)
        refund = text.REFUNDED.format(cost=render.cost)
        return fit.fit_content(text.DM_FAILED.format(prompt=prompt, reason=reason, refund=refund))
    link = fit.safe_link(url)
    if link is None:
        return text.DM_CLIP_NO_LINK.format(prompt=prompt)
    for form in (text.DM_CLIP, text.DM_CLIP_SHORT):
        content = form.format(prompt=prompt, link=link)
        if fit.size(content) <= fit.CONTENT_LIMIT:
            return content
    return text.DM_CLIP_LINK_TOO_LONG.format(prompt=prompt)
