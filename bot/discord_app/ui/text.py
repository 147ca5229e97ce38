"""Every sentence the bot says to people, in one place, with named placeholders."""

from __future__ import annotations

from datetime import datetime

from bot.discord_app.ui import fit
from bot.domain.estimates import Estimate
from bot.domain.queue import EXACT_PLACES, shown_place
from bot.domain.quota_types import Decision, Refusal, RefusalReason
from bot.domain.states import FailureKind, RenderState


def ts(moment: datetime, style: str = "R") -> str:
    """A Discord timestamp: every client shows it in its own time zone, and `R` counts live ("3 minutes ago")."""
    return f"<t:{int(moment.timestamp())}:{style}>"


# ---- slash command replies (ephemeral) -------------------------------------------------------------------

MISSING_PERMISSIONS = (
    "I can't post in this channel: I'm missing {missing}. Ask a server admin to give me those permissions "
    "here, or use another channel."
)
GUILD_ONLY = "Video generation works in a server channel, not in DMs."
DOWNLOAD_FAILED = "I couldn't download `{option}` from Discord. Attach it again and resend the command."
DOWNLOAD_TOO_LARGE = "`{option}` is larger than 10 MB. Attach a smaller PNG or JPEG."
MODEL_GONE = "`{model}` can't be used here now: {reason}. Send a new request with another `model`."
TOO_MANY_PREPARING = (
    "You have {count} requests with images being prepared right now. Wait a moment for them to go through, then "
    "send this one again; nothing was charged."
)
IMAGES_NOT_KEPT = (
    "The images of that request are no longer kept, so it can't be sent again as it was. Run `/video generate` "
    "with the images attached; nothing was charged."
)
INTERNAL_ERROR = (
    "Something went wrong on my side. If your request was accepted, its status message will appear in the channel "
    "shortly; otherwise nothing was charged and you can try again in a moment."
)
STORYBOARD_TITLE = "Storyboard"
# A modal field's label holds 45 characters and its description 100 (Discord's limits).
STORYBOARD_LABEL = "Shots"
STORYBOARD_HELP = "One shot per line as seconds | prompt, up to 6 shots; the seconds add up to the clip's length."
STORYBOARD_PREVIEW = "**Storyboard** ({count} shot{plural}, {total} s):\n{shots}\n\nCost: **{cost} credits**. Send it?"
STORYBOARD_FIX = "{error}\n\nPress **Edit storyboard** to fix it; your text is kept."
STORYBOARD_SHORTENED = "_(Long shots are shortened here to fit; Send sends every shot in full.)_"
SEND = "Send"
EDIT_STORYBOARD = "Edit storyboard"
CANCEL = "Cancel"
CANCELLED = "Cancelled; nothing was charged."
STORYBOARD_ALREADY_SENT = "This storyboard was already sent; its status message is in the channel."
STORYBOARD_SUPERSEDED = "You edited this storyboard since: use the buttons under the newest preview."
NOT_YOURS = "Only the member who started this can use these buttons."


def format_accepted(decision: Decision, status_links: list[str], notes: tuple[str, ...]) -> str:
    lines = []
    if decision.needs_approval:
        lines.append("Your request is waiting for a moderator's approval. The credits are held until they decide.")
    else:
        lines.append("Your video is on its way! I'll post it in the channel and mention you when it's ready.")
    lines.append(f"Cost: **{decision.cost} credits**.")
    if decision.member_credits_left is not None:
        reset = f" (resets {ts(decision.member_resets_at)})" if decision.member_resets_at else ""
        lines.append(f"You have **{decision.member_credits_left} credits** left today{reset}.")
    if status_links:
        lines.append("Status: " + " ".join(status_links))
    lines.extend(f"Note: {note}" for note in notes)
    return "\n".join(lines)


def format_refusal(refusal: Refusal, cost: int) -> str:
    reason = refusal.reason
    when = f" {ts(refusal.retry_at)}" if refusal.retry_at else ""
    if reason is RefusalReason.BANNED:
        return "You are not allowed to generate videos in this server. Ask a moderator if you think this is wrong."
    if reason is RefusalReason.PAUSED:
        return "Video generation is paused in this server by the moderators. Please try again later."
    if reason is RefusalReason.CHANNEL_NOT_ALLOWED:
        return "Video generation isn't enabled in this channel. Try a channel the moderators allowed."
    if reason is RefusalReason.IN_FLIGHT:
        return (
            f"You can have at most {refusal.limit} videos rendering at once (each take counts), and this request "
            "would go over. Wait for one to finish, or ask for fewer `takes`."
        )
    if reason is RefusalReason.COOLDOWN:
        return f"You're on cooldown: you can request another video{when}."
    if reason is RefusalReason.MEMBER_DAILY:
        return (
            f"This request costs **{cost} credits** but you have **{refusal.credits_left}** left today. "
            f"Try a shorter `duration` or `std` mode, or wait until your credits reset{when}."
        )
    period = "today" if reason is RefusalReason.GUILD_DAILY else "this month"
    return (
        f"The server's video budget for {period} is used up ({refusal.credits_left} credits left, this request "
        f"needs {cost}). It resets{when}."
    )


# ---- the status message ----------------------------------------------------------------------------------

STATE_TITLES: dict[RenderState, str] = {
    RenderState.AWAITING_APPROVAL: "⏸️ Waiting for a moderator's approval",
    RenderState.ACCEPTED: "⏳ Queued",
    RenderState.SUBMITTING: "⏳ Queued",
    RenderState.QUEUED: "⏳ Queued at ModelStream",
    RenderState.RENDERING: "🎬 Rendering",
    RenderState.SUCCEEDED: "📦 Finishing: uploading the clip",
    RenderState.DELIVERED: "✅ Done",
    RenderState.FAILED: "❌ Failed",
    RenderState.DENIED: "🚫 Declined by a moderator",
}

FAILURE_REASONS: dict[FailureKind, str] = {
    FailureKind.API_REJECTED: "ModelStream refused the request: {detail}. Change the prompt or settings and try again.",
    FailureKind.RENDER_FAILED: "The render failed at ModelStream{detail_suffix}.",
    FailureKind.TIMEOUT: "The render took longer than {timeout} so I stopped waiting for it.",
    FailureKind.NO_CREDIT: "The bot's ModelStream account is out of credit. A server admin needs to top it up.",
    FailureKind.AUTH: "The bot's ModelStream API key was refused. A server admin needs to check it.",
    FailureKind.API_UNAVAILABLE: "ModelStream had a problem taking the request. Please try again in a few minutes.",
    FailureKind.LOST_SUBMIT: (
        "I restarted while sending this request and can't tell whether ModelStream received it, so to be safe "
        "I didn't send it twice. Press Regenerate or run the command again."
    ),
    FailureKind.INPUT_MISSING: "The request's images were lost. Please send the command again.",
    FailureKind.APPROVAL_EXPIRED: "No moderator approved or declined this request within a day, so it was dropped.",
    FailureKind.MODEL_MISCONFIGURED: (
        "The bot's model table can't send this request ({detail}). A server admin needs to fix the table; "
        "meanwhile pick another model."
    ),
    FailureKind.NO_VIDEO: (
        "ModelStream reported the render finished but has no video to give (it may have been filtered). "
        "Try another prompt or model."
    ),
    FailureKind.NOT_A_VIDEO: (
        "ModelStream's result link didn't lead to a video file, so I didn't post it. Please try again."
    ),
    FailureKind.SUBMIT_DEADLINE: (
        "ModelStream was too busy or unreachable to take the request within {detail}. Please try again later."
    ),
    FailureKind.DELIVERY_BLOCKED: (
        "The video was made, but I couldn't post it here for {detail} (a permission is missing or Discord was "
        "unreachable)."
    ),
    FailureKind.DELIVERY_REFUSED: (
        "The video was made, but Discord refused it here in every form I tried (file, link, direct message)."
    ),
    FailureKind.PAUSED: "The moderators paused video generation in this server before this request was sent.",
    FailureKind.BANNED: "The moderators stopped this member from generating videos before this request was sent.",
    FailureKind.CANCELLED: "Cancelled before it was sent to ModelStream.",
    FailureKind.MODEL_UNAVAILABLE: (
        "ModelStream can't run {detail} right now. Pick another model with `model` and send it again; "
        "this one is kept off for a while."
    ),
}
REFUNDED = "Your {cost} credits were refunded."
DONE_BELOW = "The clip is in the reply below."
DONE_ELSEWHERE = "The clip was sent to the requester."
APPROVED_BY = "Approved by <@{moderator}>."
DENIED_BY = "Declined by <@{moderator}>."
APPROVAL_ENDED = "No longer waiting for a decision: {reason}"
CANCELLED_TITLE = "🛑 Cancelled"
CANCELLED_BY = "Cancelled by <@{user}>."
PLACE_FIELD = "Place in line"


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st..."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def place_in_line(place: int) -> str:
    """Where a waiting render stands in the bot's own queue; far back only roughly (`shown_place`), and "about"
    anyway, since a newcomer's first request may take its round-robin turn ahead of it."""
    shown = shown_place(place) or place
    if shown <= EXACT_PLACES:
        ahead = shown - 1
        renders = "render" if ahead == 1 else "renders"
        if ahead == 0:
            return "**Next in line**: it goes to ModelStream as soon as a slot frees."
        return f"**{ordinal(shown)} in line**, about {ahead} {renders} ahead of it."
    return f"**About {ordinal(shown)} in line**."


def queue_lines(waiting: list[tuple[str, int | None]]) -> list[str]:
    """`/video quota`: the member's renders waiting in the bot's own queue (request id, place), first in line
    first; a render with no place is being sent now."""
    if not waiting:
        return []
    shown = [
        f"`{render_id[:8]}` {ordinal(place) + ' in line' if place is not None else 'being sent now'}"
        for render_id, place in waiting[:10]
    ]
    more = f" and {len(waiting) - 10} more" if len(waiting) > 10 else ""
    return [f"Waiting in the bot's queue: {', '.join(shown)}{more}."]


# In these the detail is the API's own words (a refusal, a failure reason): untrusted, so shown escaped, on one
# line, scrubbed of anything secret-shaped and cut short. Other details are the bot's own and may use markdown.
API_DETAIL_KINDS = frozenset({FailureKind.API_REJECTED, FailureKind.RENDER_FAILED})
FAILURE_DETAIL_LIMIT = 300


def failure_reason(kind: FailureKind | None, detail: str | None, timeout_seconds: float) -> str:
    """Why a render failed, in plain words; never over FAILURE_DETAIL_LIMIT plus the sentence around it."""
    if kind is None:
        return "The render failed."
    minutes = round(timeout_seconds / 60)
    timeout = f"{minutes} minutes" if minutes >= 1 else f"{int(timeout_seconds)} seconds"
    if detail:
        if kind in API_DETAIL_KINDS:
            detail = fit.api_text(detail, FAILURE_DETAIL_LIMIT)
        else:
            detail = fit.neutral(detail, FAILURE_DETAIL_LIMIT)
    return FAILURE_REASONS[kind].format(
        detail=detail or "no reason given",
        detail_suffix=f": {detail}" if detail else "",
        timeout=timeout,
    )


# ---- delivery ---------------------------------------------------------------------------------------------

CLIP_READY = "<@{user}> your video is ready!"
CLIP_LINK = "<@{user}> your video is ready! It's too large to upload here ({size}), so here is the link: {url}"
# When the link is too long for CLIP_LINK's sentence, then too long for a message at all.
CLIP_LINK_SHORT = "<@{user}> your video: {url}"
CLIP_LINK_TOO_LONG = (
    "<@{user}> your video is ready, but it's too large to upload here and its link is too long to post. "
    "Ask a server admin to raise the upload limit or try a shorter clip."
)
CLIP_NO_LINK = (
    "<@{user}> your video is ready, but it's too large to upload here and ModelStream gave no public link. "
    "Ask a server admin to raise the upload limit or try a shorter clip."
)
CLIP_FITTED = (
    "<@{user}> your video is ready! Re-encoded to fit this channel's upload limit; the original is here: {url}"
)
CLIP_FITTED_NO_LINK = "<@{user}> your video is ready! Re-encoded to fit this channel's upload limit."
DM_CLIP = "Your video for “{prompt}” is ready, but I can't post in its channel any more: {link}"
DM_CLIP_SHORT = "Your video: {link}"
DM_CLIP_LINK_TOO_LONG = (
    "Your video for “{prompt}” is ready, but I can't post in its channel any more and its link is too long to send."
)
DM_CLIP_NO_LINK = (
    "Your video for “{prompt}” finished, but I can't post in its channel any more and have no link to share."
)
DM_FAILED = "Your video for “{prompt}” could not be made: {reason} {refund}"
DM_DELIVERY_WAITING = (
    "Your video for “{prompt}” is ready, but I'm not allowed to post it in <#{channel}> right now (a permission is "
    "missing). I'll keep trying until {until}: a moderator can fix it by giving me **Send Messages** and **Attach "
    "Files** there. If it can't be posted by then, your credits are refunded."
)
# Shown on the status card while a finished clip waits for Discord (missing permission, or Discord unreachable).
DELIVERY_BLOCKED = {
    "permission": "Finished, but I'm missing a permission to post the clip here (Send Messages, Attach Files). "
    "A moderator can fix it; I'll keep trying until {until}.",
    "access": "Finished, but I can no longer see this channel to post the clip. A moderator can give me access "
    "back; I'll keep trying until {until}.",
    "outage": "Finished, but Discord isn't accepting the clip right now. I'll keep trying until {until}.",
}

# ---- buttons ----------------------------------------------------------------------------------------------

REGENERATE = "Regenerate"
REMIX = "Remix"
DELETE = "Delete"
APPROVE = "Approve"
DENY = "Deny"
REMIX_TITLE = "Remix: edit the prompt"
REMIX_LABEL = "Prompt"
REMIX_HELP = "Model, length, shape and images stay as they were; keep any <<<image_N>>> it mentions."
DELETE_NOT_ALLOWED = "Only the member who requested this clip or a moderator can delete it."
CANCEL_NOT_ALLOWED = "Only the member who asked for this video, or a moderator (Manage Server), can cancel it."
CANCEL_DONE = "Cancelled: nothing was sent to ModelStream, and the {cost} credits were refunded."
CANCEL_TOO_LATE = (
    "This request was already sent to ModelStream, so it can't be cancelled (ModelStream has no way to stop a "
    "render). Its clip will be posted when it's ready."
)
CANCEL_ENDED = "This request has already ended; there is nothing to cancel."
DELETED = "Deleted."
RENDER_UNKNOWN = "I can't find that request any more."
APPROVAL_NEEDS_MANAGE = "Only moderators with **Manage Server** can approve or decline requests."
APPROVAL_ALREADY = "This request was already decided."
APPROVAL_PAUSED = (
    "Video generation is paused in this server, so nothing can be approved or declined. Requests that were waiting "
    "were refunded when it was paused."
)
APPROVAL_DONE = "Done: {decision}."
APPROVAL_TITLE = "Approval needed"
APPROVAL_BODY = (
    "<@{user}> asked for a video in <#{channel}> that needs approval ({reason}).\n"
    "**Prompt:** {prompt}\n**Settings:** {settings}\n**Cost:** {cost} credits"
)
SPEND_ALERT = "⚠️ This server has used **{percent}%** of its {period} video budget ({spent} of {budget} credits)."
SPEND_ALERT_FULL = " New requests are refused until the budget resets or a moderator raises it."

# ---- Continue and Stitch ----------------------------------------------------------------------------------

CONTINUE = "Continue"
STITCH = "Stitch"
CONTINUE_TITLE = "Continue: the next shot"
CONTINUE_PROMPT_LABEL = "Next shot"
CONTINUE_PROMPT_HELP = "What happens next. It starts from this clip's last frame."
CONTINUE_DURATION_LABEL = "Duration (seconds)"
CONTINUE_DURATION_HELP = "Leave empty to keep this clip's length."
CONTINUE_FRAME = "Continuing from this frame…"
CONTINUE_NOT_DELIVERED = "Only a delivered clip can be continued or stitched; this one has no clip."
CONTINUE_NO_CLIP = (
    "I can't get this clip any more (its message lost the file and its link has expired), so I can't take its "
    "last frame. Nothing was charged."
)
CONTINUE_NOT_PLAYABLE = "I couldn't read a frame from this clip, so it can't be continued. Nothing was charged."
VIDEO_TOO_SLOW = "Working on the video took too long and was stopped. Nothing was charged; try again later."
VIDEO_UNAVAILABLE = "Continue and Stitch are not available on this bot right now."
STITCH_POSTED = "Stitched {count} clips ({seconds} s): {link}"
STITCH_MESSAGE = "🎞️ The chain of {count} clips, stitched ({seconds} s), for <@{user}>. Free of credits."
STITCH_TOO_LARGE = (
    "The stitched chain is too long to fit this channel's upload limit ({limit}) even re-encoded: it needs about "
    "{needed}. Nothing was posted. Stitch from an earlier clip for a shorter chain, or ask a server admin to raise "
    "the upload limit."
)
STITCH_REFUSED_LARGE = (
    "Discord refused the stitched chain as too large for this channel. Nothing was posted. Stitch from an earlier "
    "clip for a shorter chain."
)
STITCH_BUSY = "This chain is already being stitched; its video will appear here in a moment."
STITCH_NOT_A_CHAIN = "Stitch joins a chain made with Continue, and this clip doesn't continue another one."
STITCH_BROKEN = "A clip of this chain is gone (deleted or never delivered), so the chain can't be stitched."
STITCH_NO_CLIP = "I can't get one of this chain's clips any more (its file and link are gone), so nothing was posted."
STITCH_NOT_PLAYABLE = "One of this chain's clips is not a video I can read, so nothing was posted."
STITCH_NOT_POSTED = "Discord didn't take the stitched chain just now, so nothing was posted. Try again in a while."
STITCH_NO_PERMISSION = (
    "I'm not allowed to post files here (Send Messages, Attach Files), so nothing was posted. A moderator can fix it."
)

# ---- /video history and /video show (ephemeral) ------------------------------------------------------------

HISTORY_TITLE = "Video history · page {number}"
HISTORY_SCOPE_SERVER = "Renders in this server (the channels you can see, and all of yours)"
HISTORY_SCOPE_CHANNEL = "Renders in <#{channel}>"
HISTORY_BY_MEMBER = " requested by <@{member}>"
# An entry: the prompt goes between HEAD and TAIL, escaped and shortened to fit ten of them on a page.
HISTORY_ENTRY_HEAD = "**{number}.** “"
HISTORY_ENTRY_TAIL = "”\n{state} · {when} · <@{user}> · {where}\n{settings} · `{id}`"
HISTORY_TAKE = " (take {take}/{takes})"
HISTORY_JUMP = "[Jump to it]({link})"
HISTORY_NO_MESSAGE = "not in the chat"
HISTORY_FOOTER = "Newest first · /video show id:<id> brings back a card and its buttons"
HISTORY_EMPTY = "{where}: none found yet."
HISTORY_PREVIOUS = "Previous"
HISTORY_NEXT = "Next"
HISTORY_ELSEWHERE = "This list belongs to another server. Run `/video history` here."
SHOW_WHERE = "In the chat: {link}"
SHOW_PROBLEMS = {
    "malformed": (
        "That isn't a request id. Use the 8 characters after “Request” at the bottom of a card (such as "
        "`abcd1234`), or find the render with `/video history`."
    ),
    "not_found": "I can't find a request `{id}` in this server. Check the id on its card, or find it with "
    "`/video history`.",
    "ambiguous": "More than one request here starts with `{id}`. Give more of its id, or find it with "
    "`/video history`.",
}

# ---- render time estimates (the status card) -------------------------------------------------------------

ESTIMATE_NONE = "no estimate yet"
ESTIMATE_RANGE = "usually {span} (last {count} {kind} renders)"
ESTIMATE_KIND = "{model} {quality} {duration} s"


def _rounded(seconds: float, step: int) -> int:
    return max(step, int(seconds / step + 0.5) * step)  # half up, never zero


def estimate_span(median: float, p90: float) -> str:
    """A range such as 2–3 min, about 3 min or 40–55 s: seconds under a minute and a half, whole minutes above."""
    if p90 < 90:
        low, high, unit = _rounded(median, 5), _rounded(p90, 5), "s"
    else:
        low, high, unit = _rounded(median, 60) // 60, _rounded(p90, 60) // 60, "min"
    if high <= low:
        return f"about {low} {unit}"
    return f"{low}–{high} {unit}"


def format_estimate(estimate: Estimate | None, model_name: str | None = None) -> str:
    """The card's line on how long the render usually takes: the median to the 90th percentile of the last
    renders of its kind (or of its model), and what it was measured on; "no estimate yet" without history."""
    if estimate is None:
        return ESTIMATE_NONE
    kind = estimate.kind
    model = model_name or kind.model
    if estimate.exact:
        model = ESTIMATE_KIND.format(model=model, quality=kind.quality, duration=kind.duration)
    span = estimate_span(estimate.median, estimate.p90)
    return ESTIMATE_RANGE.format(span=span, count=estimate.samples, kind=model)


# ---- takes together and /video compare: the card and the result message of a group --------------------------

TAKE = "Take {number}"
GROUP_TAKES = "{count} takes"
GROUP_COMPARE = "{count} models compared"
GROUP_DONE_OF = "{done} of {count} done"
GROUP_FAILED_OF = "{failed} of {count} failed"
SEED = "seed {seed}"
CREDITS = "{cost} credits"
RENDERED_IN = "rendered in {minutes} min {seconds} s"
TAKE_REFUNDED = "{cost} credits refunded."
DONE_BELOW_GROUP = "The clips are in the reply below."
REQUEST_IDS = "Request {ids}"
RESULT_READY = "<@{user}> your video is ready!"
RESULT_TAKES = "<@{user}> your {count} takes, each added here as it finishes:"
RESULT_COMPARE = "<@{user}> your comparison of {count} models, each added here as it finishes:"
RESULT_PENDING = "still rendering; it is added here when it's done."
RESULT_FAILED = "failed: {reason} {refund}"
RESULT_LINK = "too large to upload here: {link}"
RESULT_NO_LINK = "too large to upload here, and ModelStream gave no public link."
RESULT_ELSEWHERE = "sent to the requester by direct message."
RESULT_REMOVED = "deleted."
REGENERATE_TAKE = "Regenerate {label}"
COMPARE_ACCEPTED = "Your comparison is on its way! One clip per model, together in one message when they're done."
COMPARE_COSTS = "Cost: **{total} credits** in all ({parts})."
CLIP_FITTED_LINE = "re-encoded to fit this channel's upload limit; the original is here: {url}"
CLIP_FITTED_LINE_NO_LINK = "re-encoded to fit this channel's upload limit."


def format_compare_accepted(
    decision: Decision, costs: list[tuple[str, int]], status_links: list[str], notes: tuple[str, ...]
) -> str:
    """The first reply to `/video compare`: on its way (or held), the total cost and each model's, the credits
    left, where its card is."""
    lines = format_accepted(decision, status_links, notes).split("\n")
    if not decision.needs_approval:
        lines[0] = COMPARE_ACCEPTED
    parts = ", ".join(f"{name}: {cost}" for name, cost in costs)
    lines[1] = COMPARE_COSTS.format(total=decision.cost, parts=parts)
    return fit.fit_content("\n".join(lines))


def expected_start(seconds: float) -> str:
    """The card's "expected start" while a render waits in the bot's queue, from `expected_start_in`."""
    if seconds < 60:
        return EXPECTED_START_SOON
    minutes = max(1, round(seconds / 60))
    if minutes < 90:
        return EXPECTED_START.format(when=f"{minutes} min")
    return EXPECTED_START.format(when=f"{round(minutes / 60)} h")


EXPECTED_START = "Expected to start in about {when}."
EXPECTED_START_SOON = "Expected to start within a minute."
DELETE_BUSY = "Another clip is being added to that message right now; press Delete again in a moment."
RESULT_LINK_TOO_LONG = (
    "too large to upload here, and its link is too long to post. Ask a server admin to raise the upload limit or "
    "try a shorter clip."
)
