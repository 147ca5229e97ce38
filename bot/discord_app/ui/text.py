"""Every sentence the bot says to people, in one place, with named placeholders."""

from __future__ import annotations

from datetime import datetime

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
INTERNAL_ERROR = (
    "Something went wrong on my side. If your request was accepted, its status message will appear in the channel "
    "shortly; otherwise nothing was charged and you can try again in a moment."
)
STORYBOARD_TITLE = "Storyboard"
STORYBOARD_LABEL = "Shots: one per line, as seconds | prompt"
STORYBOARD_PREVIEW = "**Storyboard** ({count} shot{plural}, {total} s):\n{shots}\n\nCost: **{cost} credits**. Send it?"
STORYBOARD_FIX = "{error}\n\nPress **Edit storyboard** to fix it; your text is kept."
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


def failure_reason(kind: FailureKind | None, detail: str | None, timeout_seconds: float) -> str:
    if kind is None:
        return "The render failed."
    minutes = round(timeout_seconds / 60)
    timeout = f"{minutes} minutes" if minutes >= 1 else f"{int(timeout_seconds)} seconds"
    return FAILURE_REASONS[kind].format(
        detail=detail or "no reason given",
        detail_suffix=f": {detail}" if detail else "",
        timeout=timeout,
    )


# ---- delivery ---------------------------------------------------------------------------------------------

CLIP_READY = "<@{user}> your video is ready!"
CLIP_LINK = "<@{user}> your video is ready! It's too large to upload here ({size}), so here is the link: {url}"
CLIP_NO_LINK = (
    "<@{user}> your video is ready, but it's too large to upload here and ModelStream gave no public link. "
    "Ask a server admin to raise the upload limit or try a shorter clip."
)
DM_CLIP = "Your video for “{prompt}” is ready, but I can't post in its channel any more: {link}"
DM_CLIP_NO_LINK = (
    "Your video for “{prompt}” finished, but I can't post in its channel any more and have no link to share."
)
DM_FAILED = "Your video for “{prompt}” could not be made: {reason} {refund}"

# ---- buttons ----------------------------------------------------------------------------------------------

REGENERATE = "Regenerate"
REMIX = "Remix"
DELETE = "Delete"
APPROVE = "Approve"
DENY = "Deny"
REMIX_TITLE = "Remix: edit the prompt"
REMIX_LABEL = "Prompt"
DELETE_NOT_ALLOWED = "Only the member who requested this clip or a moderator can delete it."
DELETED = "Deleted."
RENDER_UNKNOWN = "I can't find that request any more."
APPROVAL_NEEDS_MANAGE = "Only moderators with **Manage Server** can approve or decline requests."
APPROVAL_ALREADY = "This request was already decided."
APPROVAL_DONE = "Done: {decision}."
APPROVAL_TITLE = "Approval needed"
APPROVAL_BODY = (
    "<@{user}> asked for a video in <#{channel}> that needs approval ({reason}).\n"
    "**Prompt:** {prompt}\n**Settings:** {settings}\n**Cost:** {cost} credits"
)
SPEND_ALERT = "⚠️ This server has used **{percent}%** of its {period} video budget ({spent} of {budget} credits)."
SPEND_ALERT_FULL = " New requests are refused until the budget resets or a moderator raises it."
