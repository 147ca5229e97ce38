"""What a guild's moderators configured: limits, grants, bans, channels, budgets, pause, approvals.

Every change is written together with its `audit_log` row in one transaction. The audit keeps the setting as
it read before and after the change, in plain JSON (ids, numbers, lists), so it shows what really changed.

Guild-wide settings left unconfigured inherit the bot-wide defaults given to the repository (from Settings), so
changing a default reaches every guild that never chose otherwise: a NULL column means "inherit". The optional
limits (default daily credits, budgets, renders in flight) can also be configured as "unlimited", which is
stored as -1 because NULL already means "inherit".

Which guild settings exist, their columns, how each is stored and audited, and the keys of a channel's defaults
all come from `bot.domain.settings_catalog.SETTINGS`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.quota_types import ApprovalRules, GuildRules
from bot.domain.request import ChannelDefaults
from bot.domain.settings_catalog import SETTINGS, Scope, Setting
from bot.storage.db import Database
from bot.storage.tables import (
    audit_log,
    bans,
    channel_settings,
    credit_grants,
    guild_settings,
    member_limits,
    role_limits,
)
from bot.storage.usage import day_key, lock_guild, read_usage

Reader = Callable[[AsyncConnection], Awaitable[Any]]
Writer = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class AuditEntry:
    """One configuration change: who, what, on whom, the value before and after (decoded JSON), when."""

    actor_id: int
    action: str
    target: str
    before: Any
    after: Any
    created_at: datetime


# The guild-wide settings stored in guild_settings, one column each (see bot.domain.settings_catalog).
_GUILD_SETTINGS: dict[str, Setting] = {setting.field: setting for setting in SETTINGS.of(Scope.GUILD)}


class GuildConfigRepository:
    """Reads a guild's rules and applies moderators' changes, each with its audit row."""

    def __init__(
        self,
        db: Database,
        defaults: GuildRules | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._defaults = defaults or GuildRules()
        self._clock = clock

    # -- reading -------------------------------------------------------------------------------------------

    async def rules(self, guild_id: int) -> GuildRules:
        """The guild's rules: what its moderators set, the bot-wide defaults for the rest."""
        async with self._db.read() as conn:
            settings = await self._guild_fields(conn, guild_id, _GUILD_SETTINGS)
            members = await conn.execute(
                select(member_limits.c.user_id, member_limits.c.daily_credits).where(
                    member_limits.c.guild_id == guild_id
                )
            )
            roles = await conn.execute(
                select(role_limits.c.role_id, role_limits.c.daily_credits).where(role_limits.c.guild_id == guild_id)
            )
            banned = await conn.scalars(select(bans.c.user_id).where(bans.c.guild_id == guild_id))
            channels = (
                await conn.execute(
                    select(channel_settings.c.channel_id, channel_settings.c.access).where(
                        channel_settings.c.guild_id == guild_id, channel_settings.c.access.is_not(None)
                    )
                )
            ).all()
            return replace(
                self._defaults,
                **settings,
                member_daily_credits={int(user): int(daily) for user, daily in members},
                role_daily_credits={int(role): int(daily) for role, daily in roles},
                banned_user_ids=frozenset(int(user) for user in banned),
                allowed_channel_ids=frozenset(int(c) for c, access in channels if access == "allow"),
                denied_channel_ids=frozenset(int(c) for c, access in channels if access == "deny"),
            )

    async def channel_defaults(self, guild_id: int, channel_id: int) -> ChannelDefaults:
        """The defaults a moderator set for the channel (all None when none were set)."""
        async with self._db.read() as conn:
            return await self._channel_defaults(conn, guild_id, channel_id)

    async def all_channel_defaults(self, guild_id: int) -> dict[int, ChannelDefaults]:
        """Every channel of the guild that has defaults set, with them."""
        query = select(channel_settings.c.channel_id, channel_settings.c.defaults).where(
            channel_settings.c.guild_id == guild_id, channel_settings.c.defaults.is_not(None)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        found = {int(channel): _channel_defaults_from_dict(json.loads(stored)) for channel, stored in rows}
        return {channel: defaults for channel, defaults in found.items() if defaults != ChannelDefaults()}

    async def audit(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        """The guild's latest configuration changes, newest first."""
        query = select(audit_log).where(audit_log.c.guild_id == guild_id).order_by(audit_log.c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AuditEntry(
                actor_id=int(row.actor_id),
                action=row.action,
                target=row.target,
                before=_from_json(row.before),
                after=_from_json(row.after),
                created_at=row.created_at,
            )
            for row in rows
        ]

    # -- member and role limits, grants ---------------------------------------------------------------------

    async def set_member_limit(self, guild_id: int, user_id: int, daily: int | None, *, actor_id: int) -> None:
        """Give a member their own daily credits (over any role's); None removes the override."""
        key = {"guild_id": guild_id, "user_id": user_id}
        await self._keyed_value(guild_id, actor_id, "member_limit.set", f"user:{user_id}", member_limits, key, daily)

    async def set_role_limit(self, guild_id: int, role_id: int, daily: int | None, *, actor_id: int) -> None:
        """Set the daily credits of a role's members (the most generous role wins); None removes it."""
        key = {"guild_id": guild_id, "role_id": role_id}
        await self._keyed_value(guild_id, actor_id, "role_limit.set", f"role:{role_id}", role_limits, key, daily)

    async def grant(self, guild_id: int, user_id: int, credits: int, day: date, *, actor_id: int) -> None:
        """Give a member `credits` extra credits for one UTC day (a datetime means its UTC day)."""
        key = day_key(day) if isinstance(day, datetime) else day.isoformat()

        async def write(conn: AsyncConnection) -> None:
            await self._add_grant(conn, guild_id, user_id, key, credits, actor_id)

        await self._audited(
            guild_id, actor_id, "credits.grant", f"user:{user_id}", self._granted_reader(guild_id, user_id, key), write
        )

    async def reset_member(self, guild_id: int, user_id: int, now: datetime, *, actor_id: int) -> None:
        """Give a member their whole daily allowance back for today (UTC).

        Done with a grant for today equal to what they used beyond what was already granted, so afterwards
        used - granted = 0 and "credits left" equals their daily limit. Renders still running keep counting; a
        later refund of one of them adds on top. Nothing is granted when they already have their allowance.
        """
        key = day_key(now)

        async def read(conn: AsyncConnection) -> dict[str, Any]:
            usage = await read_usage(conn, guild_id, user_id, now)
            return {"day": key, "used": usage.member_used_today, "granted": usage.member_granted_today}

        async def write(conn: AsyncConnection) -> None:
            # Keep a reservation of this member from slipping in between reading the usage and granting.
            await lock_guild(self._db, conn, guild_id)
            usage = await read_usage(conn, guild_id, user_id, now)
            missing = usage.member_used_today - usage.member_granted_today
            if missing > 0:
                await self._add_grant(conn, guild_id, user_id, key, missing, actor_id)

        await self._audited(guild_id, actor_id, "member.reset", f"user:{user_id}", read, write)

    # -- bans -----------------------------------------------------------------------------------------------

    async def ban(self, guild_id: int, user_id: int, reason: str | None, *, actor_id: int) -> None:
        """Stop a member from generating in this guild (replaces the reason of an existing ban)."""
        values = {"banned_by": actor_id, "reason": reason, "created_at": self._clock()}
        await self._keyed_row(
            guild_id, actor_id, "member.ban", f"user:{user_id}", bans, _user_key(guild_id, user_id), values
        )

    async def unban(self, guild_id: int, user_id: int, *, actor_id: int) -> None:
        await self._keyed_row(
            guild_id, actor_id, "member.unban", f"user:{user_id}", bans, _user_key(guild_id, user_id), None
        )

    # -- channels -------------------------------------------------------------------------------------------

    async def set_channel_access(self, guild_id: int, channel_id: int, access: str | None, *, actor_id: int) -> None:
        """'allow' (once any channel is allowed, only allowed ones work), 'deny', or None to clear."""
        if access not in ("allow", "deny", None):
            raise ValueError(f"channel access must be 'allow', 'deny' or None, not {access!r}")
        key = {"guild_id": guild_id, "channel_id": channel_id}
        await self._keyed_row(
            guild_id, actor_id, "channel.access", f"channel:{channel_id}", channel_settings, key, {"access": access}
        )

    async def set_channel_defaults(
        self, guild_id: int, channel_id: int, defaults: ChannelDefaults, *, actor_id: int
    ) -> None:
        """Replace the channel's defaults (pass `ChannelDefaults()` to clear them)."""

        async def read(conn: AsyncConnection) -> dict[str, Any]:
            return _channel_defaults_to_dict(await self._channel_defaults(conn, guild_id, channel_id))

        async def write(conn: AsyncConnection) -> None:
            stored = json.dumps(_channel_defaults_to_dict(defaults))
            await conn.execute(
                self._db.insert(channel_settings)
                .values(guild_id=guild_id, channel_id=channel_id, defaults=stored)
                .on_conflict_do_update(index_elements=_primary_key(channel_settings), set_={"defaults": stored})
            )

        await self._audited(guild_id, actor_id, "channel.defaults", f"channel:{channel_id}", read, write)

    # -- guild-wide settings --------------------------------------------------------------------------------

    async def set_default_daily_credits(self, guild_id: int, daily: int | None, *, actor_id: int) -> None:
        """Daily credits of members with no role or member override; None = unlimited."""
        await self._set_guild(guild_id, actor_id, "default_daily_credits.set", {"default_daily_credits": daily})

    async def set_budget(self, guild_id: int, daily: int | None, monthly: int | None, *, actor_id: int) -> None:
        """The whole guild's credits per UTC day and per calendar month; None = no budget."""
        await self._set_guild(guild_id, actor_id, "budget.set", {"daily_budget": daily, "monthly_budget": monthly})

    async def set_paused(self, guild_id: int, paused: bool, *, actor_id: int) -> None:
        """The kill switch: while paused no request of the guild is accepted."""
        await self._set_guild(guild_id, actor_id, "pause.set", {"paused": paused})

    async def set_approval_rules(self, guild_id: int, rules: ApprovalRules, *, actor_id: int) -> None:
        await self._set_guild(guild_id, actor_id, "approval.set", {"approval": rules})

    async def set_moderator_channel(self, guild_id: int, channel_id: int | None, *, actor_id: int) -> None:
        """Where approvals and spend alerts go; None = nowhere."""
        await self._set_guild(guild_id, actor_id, "moderator_channel.set", {"moderator_channel_id": channel_id})

    async def set_guild_settings(self, guild_id: int, action: str, values: Mapping[str, Any], *, actor_id: int) -> None:
        """Store the given guild settings (GuildRules field -> value, see SETTINGS) as one audited change.

        Only what is given is written: the others stay as they are (unset ones keep following the bot-wide
        defaults). None stores "inherit" for the settings whose codec has no other meaning for it.
        """
        unknown = set(values) - set(_GUILD_SETTINGS)
        if unknown or not values:
            raise ValueError(f"set_guild_settings() takes guild settings only, not {sorted(unknown) or 'nothing'}")
        await self._set_guild(guild_id, actor_id, action, values)

    async def set_limits(
        self,
        guild_id: int,
        max_in_flight: int | None,
        cooldown_seconds: int,
        exempt_role_ids: Iterable[int],
        *,
        actor_id: int,
    ) -> None:
        """Renders in flight per member (None = unlimited), cooldown between requests, roles exempt from limits."""
        await self.update_limits(
            guild_id,
            actor_id=actor_id,
            max_in_flight_per_member=max_in_flight,
            cooldown_seconds=cooldown_seconds,
            exempt_role_ids=frozenset(exempt_role_ids),
        )

    async def update_limits(self, guild_id: int, *, actor_id: int, **limits: Any) -> None:
        """Store only the member limits given (max_in_flight_per_member, cooldown_seconds, exempt_role_ids).

        The others stay unset in storage, so they keep following the bot-wide defaults.
        """
        unknown = set(limits) - {"max_in_flight_per_member", "cooldown_seconds", "exempt_role_ids"}
        if unknown or not limits:
            raise ValueError(f"update_limits() takes member limits only, not {sorted(unknown) or 'nothing'}")
        if "exempt_role_ids" in limits:
            limits["exempt_role_ids"] = frozenset(limits["exempt_role_ids"])
        await self._set_guild(guild_id, actor_id, "limits.set", limits)

    # -- the shapes of change: each builds a reader and a writer for `_audited` -----------------------------

    async def _audited(
        self, guild_id: int, actor_id: int, action: str, target: str, read: Reader, write: Writer
    ) -> None:
        """Apply `write` and log the audit row, in one transaction; before/after are what `read` sees."""
        async with self._db.write() as conn:
            before = _jsonable(await read(conn))
            await write(conn)
            after = _jsonable(await read(conn))
            await conn.execute(
                insert(audit_log).values(
                    guild_id=guild_id,
                    actor_id=actor_id,
                    action=action,
                    target=target,
                    before=_to_json(before),
                    after=_to_json(after),
                    created_at=self._clock(),
                )
            )

    async def _set_guild(self, guild_id: int, actor_id: int, action: str, values: Mapping[str, Any]) -> None:
        """Set GuildRules fields stored in guild_settings; the audit shows each as its codec's JSON."""
        wanted = {name: _GUILD_SETTINGS[name] for name in values}

        async def read(conn: AsyncConnection) -> dict[str, Any]:
            current = await self._guild_fields(conn, guild_id, wanted)
            return {name: wanted[name].codec.to_json(value) for name, value in current.items()}

        async def write(conn: AsyncConnection) -> None:
            columns = {setting.storage_key: setting.codec.dump(values[name]) for name, setting in wanted.items()}
            await conn.execute(
                self._db.insert(guild_settings)
                .values(guild_id=guild_id, **columns)
                .on_conflict_do_update(index_elements=[guild_settings.c.guild_id], set_=columns)
            )

        await self._audited(guild_id, actor_id, action, "guild", read, write)

    async def _keyed_value(
        self, guild_id: int, actor_id: int, action: str, target: str, table: Any, key: dict[str, int], daily: int | None
    ) -> None:
        """Set or (None) remove the single `daily_credits` value of a keyed row; the audit shows the number."""

        async def read(conn: AsyncConnection) -> int | None:
            return await conn.scalar(select(table.c.daily_credits).where(_matches(table, key)))

        values = None if daily is None else {"daily_credits": daily}
        await self._audited(guild_id, actor_id, action, target, read, self._row_writer(table, key, values))

    async def _keyed_row(
        self,
        guild_id: int,
        actor_id: int,
        action: str,
        target: str,
        table: Any,
        key: dict[str, int],
        values: dict[str, Any] | None,
    ) -> None:
        """Upsert (or with None delete) a keyed row; the audit shows its non-key columns or null."""
        columns = [c for c in table.c if c.name not in key]

        async def read(conn: AsyncConnection) -> dict[str, Any] | None:
            row = (await conn.execute(select(*columns).where(_matches(table, key)))).first()
            return dict(row._mapping) if row else None

        await self._audited(guild_id, actor_id, action, target, read, self._row_writer(table, key, values))

    def _row_writer(self, table: Any, key: dict[str, int], values: dict[str, Any] | None) -> Writer:
        async def write(conn: AsyncConnection) -> None:
            if values is None:
                await conn.execute(delete(table).where(_matches(table, key)))
                return
            await conn.execute(
                self._db.insert(table)
                .values(**key, **values)
                .on_conflict_do_update(index_elements=_primary_key(table), set_=values)
            )

        return write

    def _granted_reader(self, guild_id: int, user_id: int, day: str) -> Reader:
        async def read(conn: AsyncConnection) -> dict[str, Any]:
            granted = await conn.scalar(
                select(func.coalesce(func.sum(credit_grants.c.credits), 0)).where(
                    credit_grants.c.guild_id == guild_id,
                    credit_grants.c.user_id == user_id,
                    credit_grants.c.day == day,
                )
            )
            return {"day": day, "granted": int(granted or 0)}

        return read

    async def _add_grant(
        self, conn: AsyncConnection, guild_id: int, user_id: int, day: str, credits: int, actor_id: int
    ) -> None:
        await conn.execute(
            insert(credit_grants).values(
                guild_id=guild_id,
                user_id=user_id,
                day=day,
                credits=credits,
                granted_by=actor_id,
                created_at=self._clock(),
            )
        )

    async def _guild_fields(
        self, conn: AsyncConnection, guild_id: int, wanted: Mapping[str, Setting]
    ) -> dict[str, Any]:
        """The effective value of each wanted GuildRules field: stored, or the default when NULL/no row."""
        columns = [guild_settings.c[setting.storage_key] for setting in wanted.values()]
        row = (await conn.execute(select(*columns).where(guild_settings.c.guild_id == guild_id))).first()
        stored = dict(row._mapping) if row else {}
        return {
            name: getattr(self._defaults, name)
            if stored.get(setting.storage_key) is None
            else setting.codec.load(stored[setting.storage_key])
            for name, setting in wanted.items()
        }

    async def _channel_defaults(self, conn: AsyncConnection, guild_id: int, channel_id: int) -> ChannelDefaults:
        stored = await conn.scalar(
            select(channel_settings.c.defaults).where(
                channel_settings.c.guild_id == guild_id, channel_settings.c.channel_id == channel_id
            )
        )
        return _channel_defaults_from_dict(json.loads(stored)) if stored else ChannelDefaults()


def _user_key(guild_id: int, user_id: int) -> dict[str, int]:
    return {"guild_id": guild_id, "user_id": user_id}


def _matches(table: Any, key: Mapping[str, int]) -> Any:
    return and_(*(table.c[name] == value for name, value in key.items()))


def _primary_key(table: Any) -> list[Any]:
    return list(table.primary_key.columns)


def _channel_defaults_to_dict(defaults: ChannelDefaults) -> dict[str, Any]:
    """A channel's defaults as stored (JSON), one key per CHANNEL setting; the audit keeps the same."""
    return {
        setting.storage_key: setting.codec.dump(getattr(defaults, setting.field))
        for setting in SETTINGS.of(Scope.CHANNEL)
    }


def _channel_defaults_from_dict(data: Mapping[str, Any]) -> ChannelDefaults:
    # A key missing (stored before that setting existed) or null is "not set": the field's own default.
    return ChannelDefaults(
        **{
            setting.field: setting.codec.load(data[setting.storage_key])
            for setting in SETTINGS.of(Scope.CHANNEL)
            if data.get(setting.storage_key) is not None
        }
    )


def _jsonable(value: Any) -> Any:
    """Rows as plain JSON values: datetimes as ISO text (settings come as their codec's JSON already)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def _to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _from_json(stored: str | None) -> Any:
    return None if stored is None else json.loads(stored)
