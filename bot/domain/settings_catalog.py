"""Every setting moderators change with `/videoadmin`, described once.

One `Setting` per setting says:
- its key: how a `Change` and the audit log name it (`daily_budget`, `channel_defaults.mode`, `approval.min_cost`);
- its label and how its value reads to moderators (a `Show` kind, and the word for "no value");
- where it is stored: a `guild_settings` column (scope GUILD, a `GuildRules` field; NULL inherits the bot-wide
  default) or a key of a channel's defaults JSON (scope CHANNEL, a `ChannelDefaults` field); settings kept in
  tables of their own (member and role credits, bans, channel access) or inside another setting (the approval
  rules) are SHOWN only;
- its codec: value to stored form and back, and value to the plain JSON the audit log keeps.

Storage (`bot.storage.config`) reads and writes guild settings and channel defaults from these entries, the audit
keeps their JSON, and the moderators' text (`bot.discord_app.ui.admin_text`) names and shows them from here. So a
new setting is one entry here, plus its field (on `GuildRules` or `ChannelDefaults`), a column in a migration for
a guild setting, and the command option that sets it.

Pure: the `Show` kinds say what a value is (roles, a channel, models); the Discord layer decides how that looks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import Enum, StrEnum
from typing import Any

from bot.domain.quota_types import ApprovalRules
from bot.domain.request import AspectRatio, QualityMode

UNLIMITED_STORED = -1  # the optional limits store "unlimited" as -1, because NULL already means "inherit"


def _same(value: Any) -> Any:
    return value


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, with None passed through (None is "not set" in every store)."""
    return lambda value: None if value is None else convert(value)


@dataclass(frozen=True)
class Codec:
    """How a setting's value is stored and audited.

    `dump` turns the value into what is stored (a column value, or a JSON value in a channel's defaults) and is
    given None too; `load` turns a stored value back (never given None: nothing stored means "not set");
    `to_json` gives the plain JSON value the audit log keeps (ids, numbers, text, sorted lists).
    """

    dump: Callable[[Any], Any] = _same
    load: Callable[[Any], Any] = _same
    to_json: Callable[[Any], Any] = _same


def _json_list(items: Iterable[Any]) -> str:
    return json.dumps(sorted(items))


PLAIN = Codec()
INT = Codec(load=int)
BOOL = Codec(load=bool)
TEXT = Codec(load=str)
# None is "unlimited" (or "no budget"): stored as -1, shown and audited as None.
LIMIT = Codec(
    dump=lambda value: UNLIMITED_STORED if value is None else value,
    load=lambda stored: None if stored == UNLIMITED_STORED else int(stored),
)
ROLE_IDS = Codec(
    dump=_json_list, load=lambda stored: frozenset(int(role) for role in json.loads(stored)), to_json=sorted
)
MODEL_KEYS = Codec(
    dump=_json_list, load=lambda stored: frozenset(str(key) for key in json.loads(stored)), to_json=sorted
)
APPROVAL = Codec(
    dump=lambda rules: json.dumps(asdict(rules)),
    load=lambda stored: ApprovalRules(**json.loads(stored)),
    to_json=asdict,
)


def enum_codec(enum: type[Enum]) -> Codec:
    """An enum stored and audited as its value."""
    to_value = _nullable(lambda member: member.value)
    return Codec(dump=to_value, load=enum, to_json=to_value)


class Scope(StrEnum):
    GUILD = "guild"  # a GuildRules field in its own guild_settings column
    CHANNEL = "channel"  # a ChannelDefaults field, one key of channel_settings.defaults (JSON)
    SHOWN = "shown"  # stored elsewhere: only named and shown from here


class Show(StrEnum):
    """What a value is, so the Discord layer can show it (booleans always read yes/no)."""

    PLAIN = "plain"  # the number or text (an enum's value)
    SECONDS = "seconds"  # a duration in seconds; 0 reads as none
    ROLES = "roles"  # role ids
    CHANNEL = "channel"  # a channel id
    QUOTED = "quoted"  # text a moderator typed, quoted and cut short
    MODEL = "model"  # a model key
    MODELS = "models"  # model keys
    APPROVAL = "approval"  # ApprovalRules, in a sentence


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    scope: Scope = Scope.SHOWN
    stored_as: str | None = None  # the guild_settings column (GUILD) or the key in a channel's defaults (CHANNEL)
    codec: Codec = PLAIN
    show: Show = Show.PLAIN
    none: str = "none"  # how "no value" (None, empty text) reads
    overview: bool = True  # a GUILD setting listed in the server's rules (`/videoadmin quota show`)

    @property
    def storage_key(self) -> str:
        """The column or JSON key of a stored (GUILD or CHANNEL) setting."""
        if self.stored_as is None:
            raise ValueError(f"setting {self.key!r} is not stored in guild_settings or a channel's defaults")
        return self.stored_as

    @property
    def field(self) -> str:
        """The attribute holding the value on GuildRules, ChannelDefaults or ApprovalRules."""
        return self.key.rpartition(".")[2]


class Catalog:
    """The settings by key, in the order they are listed to moderators."""

    def __init__(self, settings: Iterable[Setting]) -> None:
        self._settings: dict[str, Setting] = {}
        for setting in settings:
            if setting.key in self._settings:
                raise ValueError(f"setting {setting.key!r} is described twice")
            if (setting.scope is Scope.SHOWN) != (setting.stored_as is None):
                raise ValueError(f"setting {setting.key!r}: only GUILD and CHANNEL settings are stored here")
            self._settings[setting.key] = setting

    def __getitem__(self, key: str) -> Setting:
        return self._settings[key]

    def __iter__(self) -> Iterator[Setting]:
        return iter(self._settings.values())

    def get(self, key: str) -> Setting | None:
        return self._settings.get(key)

    def of(self, scope: Scope) -> list[Setting]:
        return [setting for setting in self._settings.values() if setting.scope is scope]

    def label(self, key: str) -> str:
        """The setting's label; an unknown key (an old audit row, say) reads as itself."""
        setting = self._settings.get(key)
        return setting.label if setting else key


CHANNEL_PREFIX = "channel_defaults."

SETTINGS = Catalog(
    [
        # ---- the server's rules: one guild_settings column each, NULL = the bot-wide default ------------------
        Setting(
            "default_daily_credits",
            "Default daily credits per member",
            Scope.GUILD,
            "default_daily_credits",
            LIMIT,
            none="unlimited",
        ),
        Setting("daily_budget", "Daily server budget", Scope.GUILD, "daily_budget", LIMIT),
        Setting("monthly_budget", "Monthly server budget", Scope.GUILD, "monthly_budget", LIMIT),
        Setting(
            "max_in_flight_per_member",
            "Renders in flight per member",
            Scope.GUILD,
            "max_in_flight_per_member",
            LIMIT,
            none="no cap",
        ),
        Setting("cooldown_seconds", "Cooldown between requests", Scope.GUILD, "cooldown_seconds", INT, Show.SECONDS),
        Setting("exempt_role_ids", "Exempt roles", Scope.GUILD, "exempt_role_ids", ROLE_IDS, Show.ROLES),
        # The server's rules open with "Generation: running/paused" instead.
        Setting("paused", "Generation paused", Scope.GUILD, "paused", BOOL, overview=False),
        Setting(
            "moderator_channel_id",
            "Moderator channel",
            Scope.GUILD,
            "moderator_channel_id",
            INT,
            Show.CHANNEL,
            none="not set",
        ),
        Setting("approval", "Approvals", Scope.GUILD, "approval_rules", APPROVAL, Show.APPROVAL),
        Setting(
            "default_model",
            "Server default model",
            Scope.GUILD,
            "default_model",
            TEXT,
            Show.MODEL,
            none="the bot's default",
        ),
        Setting("disabled_models", "Models turned off", Scope.GUILD, "disabled_models", MODEL_KEYS, Show.MODELS),
        # ---- a channel's defaults for /video generate: keys of its defaults JSON, missing = not set -----------
        Setting(
            "channel_defaults.model", "Default model", Scope.CHANNEL, "model", TEXT, Show.MODEL, none="server default"
        ),
        Setting("channel_defaults.mode", "Default mode", Scope.CHANNEL, "mode", enum_codec(QualityMode), none="std"),
        Setting(
            "channel_defaults.duration",
            "Default duration (s)",
            Scope.CHANNEL,
            "duration",
            INT,
            none="the model's default",
        ),
        Setting(
            "channel_defaults.aspect_ratio",
            "Default aspect ratio",
            Scope.CHANNEL,
            "aspect_ratio",
            enum_codec(AspectRatio),
            none="16:9 (or the model's first)",
        ),
        Setting(
            "channel_defaults.negative_prompt",
            "Default negative prompt",
            Scope.CHANNEL,
            "negative_prompt",
            TEXT,
            Show.QUOTED,
        ),
        Setting("channel_defaults.sound", "Default sound", Scope.CHANNEL, "sound", BOOL, none="the model's own"),
        Setting("channel_defaults.thread_per_request", "Thread per request", Scope.CHANNEL, "thread_per_request", BOOL),
        # ---- kept in tables of their own, or inside `approval`: named and shown only ---------------------------
        Setting("member_daily_credits", "Daily credits", none="no override"),
        Setting("role_daily_credits", "Daily credits", none="no override"),
        Setting("banned", "Banned"),
        Setting("channel_access", "Channel access", none="default"),
        Setting("approval.enabled", "Approvals"),
        Setting("approval.pro_mode", "Hold every pro request"),
        Setting("approval.min_duration", "Hold requests from (seconds)", none="off"),
        Setting("approval.min_cost", "Hold requests from (credits)", none="off"),
        Setting(
            "approval.image_inputs_new_member_days",
            "Hold image inputs from members who joined less than (days)",
            none="off",
        ),
    ]
)
