"""JSON shapes of Discord API objects, built from the fake's state (field names as in API v10)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.fakes.discord_state import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    Overwrite,
    Pings,
)

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")


def iso(ts: float | None) -> str | None:
    """Wall-clock seconds to the ISO-8601 form Discord uses."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def snowflake_iso(snowflake: int) -> str:
    ms = (snowflake >> 22) + 1420070400000
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def user_payload(user: FakeUser) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
    }
    if user.bot:
        data["bot"] = True
    return data


def role_payload(role: FakeRole) -> dict[str, Any]:
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": role.mentionable,
        "flags": 0,
    }


def member_payload(member: FakeMember, *, permissions: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user": user_payload(member.user),
        "roles": [str(r) for r in member.roles],
        "joined_at": iso(member.joined_at),
        "nick": member.nick,
        "avatar": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def overwrite_payload(ow: Overwrite) -> dict[str, Any]:
    return {"id": str(ow.id), "type": ow.type, "allow": str(ow.allow), "deny": str(ow.deny)}


def channel_payload(channel: FakeChannel, *, recipient: FakeUser | None = None) -> dict[str, Any]:
    if channel.is_dm:
        return {
            "id": str(channel.id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user_payload(recipient)] if recipient else [],
        }
    data: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }
    if channel.is_thread:
        data.update(
            owner_id=str(channel.owner_id),
            message_count=0,
            member_count=1,
            total_message_sent=0,
            thread_metadata={
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": snowflake_iso(channel.id),
                "locked": False,
                "create_timestamp": snowflake_iso(channel.id),
            },
        )
    else:
        data.update(topic=channel.topic, permission_overwrites=[overwrite_payload(o) for o in channel.overwrites])
    return data


def guild_create_payload(guild: FakeGuild, *, all_members: bool = True) -> dict[str, Any]:
    """The full GUILD_CREATE payload discord.py's state needs.

    Without the GUILD_MEMBERS intent Discord sends only the bot's own member (`all_members=False`).
    """
    members = [m for m in guild.members.values() if all_members or m.user.bot]
    channels = [c for c in guild.channels.values() if not c.deleted and not c.is_thread]
    threads = [c for c in guild.channels.values() if not c.deleted and c.is_thread]
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": guild.locale,
        "features": list(guild.features),
        "roles": [role_payload(r) for r in guild.roles.values()],
        "emojis": [],
        "stickers": [],
        "soundboard_sounds": [],
        "joined_at": _bot_joined_at(guild),
        "large": False,
        "unavailable": False,
        "member_count": len(guild.members),
        "voice_states": [],
        "members": [member_payload(m) for m in members],
        "channels": [channel_payload(c) for c in channels],
        "threads": [channel_payload(t) for t in threads],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "max_members": 500000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "application_id": None,
        "nsfw": False,
        "incidents_data": None,
    }


def _bot_joined_at(guild: FakeGuild) -> str | None:
    return next((iso(m.joined_at) for m in guild.members.values() if m.user.bot), None)


def attachment_payload(att: FakeAttachment) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(att.id),
        "filename": att.filename,
        "size": att.size,
        "url": att.url,
        "proxy_url": att.url,
    }
    if att.content_type:
        data["content_type"] = att.content_type
    if att.width is not None:
        data["width"] = att.width
        data["height"] = att.height
    return data


def message_payload(
    msg: FakeMessage,
    *,
    mentions: list[dict[str, Any]] | None = None,
    referenced: dict[str, Any] | None = None,
    application_id: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(msg.id),
        "type": msg.type,
        "channel_id": str(msg.channel_id),
        "author": user_payload(msg.author),
        "content": msg.content,
        "timestamp": snowflake_iso(msg.id),
        "edited_timestamp": iso(msg.edited_wall),
        "tts": False,
        "mention_everyone": msg.pings.everyone,
        "mentions": mentions or [],
        "mention_roles": [str(r) for r in sorted(msg.pings.roles)],
        "attachments": [attachment_payload(a) for a in msg.attachments],
        "embeds": [] if msg.embeds_suppressed else list(msg.embeds),
        "components": list(msg.components),
        "pinned": False,
        "flags": msg.flags,
    }
    if msg.guild_id is not None:
        data["guild_id"] = str(msg.guild_id)
    if msg.nonce is not None:
        data["nonce"] = msg.nonce
    if msg.webhook_id is not None:
        data["webhook_id"] = str(msg.webhook_id)
    if application_id is not None and msg.webhook_id is not None:
        data["application_id"] = str(application_id)
    if msg.message_reference is not None:
        data["message_reference"] = msg.message_reference
        data["referenced_message"] = referenced
    return data


def compute_pings(
    content: str,
    allowed: dict[str, Any] | None,
    *,
    author_id: int,
    replied_user_id: int | None,
) -> Pings:
    """Who Discord would notify: mentions in content filtered through allowed_mentions, plus the reply ping."""
    users = {int(u) for u in USER_MENTION.findall(content)}
    roles = {int(r) for r in ROLE_MENTION.findall(content)}
    everyone = "@everyone" in content or "@here" in content
    reply_ping = True
    if allowed is not None:
        parse = set(allowed.get("parse") or [])
        allowed_users = {int(u) for u in allowed.get("users") or []}
        allowed_roles = {int(r) for r in allowed.get("roles") or []}
        users = users if "users" in parse else users & allowed_users
        roles = roles if "roles" in parse else roles & allowed_roles
        everyone = everyone and "everyone" in parse
        reply_ping = bool(allowed.get("replied_user", False))
    if replied_user_id is not None and reply_ping:
        users.add(replied_user_id)
    users.discard(author_id)
    return Pings(users=frozenset(users), roles=frozenset(roles), everyone=everyone)
