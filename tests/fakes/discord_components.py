"""Message components as the fake Discord checks and shows them, Components V2 included.

A message sent with the IS_COMPONENTS_V2 flag (1 << 15) is laid out by its components alone: it may have no
content and no embeds, its top level may hold containers, sections, text displays, media galleries, files,
separators and action rows, and Discord refuses it (400, Invalid Form Body) past 40 components counted at every
depth, past 4,000 characters of text displays in all, or with a media gallery of no or more than 10 items. Media
may point to a web URL or to `attachment://<filename>`, which must name a file of the message (uploaded with it,
or kept from before on an edit). Without the flag only action rows may sit at the top, as before V2 existed.

Discord answers with the components it stored: every one numbered (`id`), and `attachment://` media resolved to
the attachment's CDN URL; the bot (discord.py) reads them back that way when a button on the message is pressed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.discord_state import FakeAttachment

COMPONENTS_V2 = 1 << 15

ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
USER_SELECT = 5
ROLE_SELECT = 6
MENTIONABLE_SELECT = 7
CHANNEL_SELECT = 8
SECTION = 9
TEXT_DISPLAY = 10
THUMBNAIL = 11
MEDIA_GALLERY = 12
FILE = 13
SEPARATOR = 14
CONTAINER = 17

SELECTS = frozenset({STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT})
V2_ONLY = frozenset({SECTION, TEXT_DISPLAY, THUMBNAIL, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER})
TOP_LEVEL_V2 = frozenset({ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER})
IN_CONTAINER = frozenset({ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR})

MAX_COMPONENTS = 40
MAX_TEXT = 4000
MAX_GALLERY_ITEMS = 10
MAX_ROW_BUTTONS = 5
MAX_SECTION_TEXTS = 3
MAX_LEGACY_ROWS = 5
MAX_BUTTON_LABEL = 80
MAX_DESCRIPTION = 1024
ATTACHMENT_SCHEME = "attachment://"


class ComponentError(Exception):
    """Discord would refuse the message's components: `where` is the JSON path, `message` Discord's reason."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def is_v2(flags: int | None) -> bool:
    return bool(int(flags or 0) & COMPONENTS_V2)


def walk(components: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """Every component of a message, depth first in reading order (accessories after their section's texts)."""
    for component in components:
        if not isinstance(component, dict):
            continue
        yield component
        yield from walk(component.get("components") or [])
        accessory = component.get("accessory")
        if isinstance(accessory, dict):
            yield accessory


def texts(components: Sequence[Any]) -> list[str]:
    """The text displays' contents, in reading order: what a member reads on a V2 message."""
    return [str(c.get("content") or "") for c in walk(components) if c.get("type") == TEXT_DISPLAY]


def gallery_items(components: Sequence[Any]) -> list[dict[str, Any]]:
    """The media gallery items of a message, in order (each with its `media` and optional `description`)."""
    return [item for c in walk(components) if c.get("type") == MEDIA_GALLERY for item in c.get("items") or []]


def check(components: Sequence[Any], *, v2: bool, attachment_names: Sequence[str]) -> None:
    """Refuse (ComponentError) what Discord refuses; `attachment_names` are the files the message will have."""
    if not isinstance(components, list):
        raise ComponentError("components", "Must be an array")
    if not v2:
        for index, component in enumerate(components):
            if not isinstance(component, dict) or component.get("type") != ACTION_ROW:
                raise ComponentError(
                    f"components.{index}", "Only action rows may be sent without the IS_COMPONENTS_V2 flag"
                )
        if len(components) > MAX_LEGACY_ROWS:
            raise ComponentError("components", f"Must be {MAX_LEGACY_ROWS} or fewer in length.")
    _Checker(v2, set(attachment_names)).children(components, "components", TOP_LEVEL_V2 if v2 else {ACTION_ROW})
    if v2:
        count = sum(1 for _ in walk(components))
        if count > MAX_COMPONENTS:
            raise ComponentError("components", f"Must have {MAX_COMPONENTS} or fewer components in all ({count})")
        length = sum(len(text) for text in texts(components))
        if length > MAX_TEXT:
            raise ComponentError("components", f"Text displays must hold {MAX_TEXT} or fewer characters ({length})")
    seen: set[str] = set()
    for component in walk(components):
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if str(custom_id) in seen:
            raise ComponentError("components", f"custom_id {custom_id!r} is used twice; each must be unique")
        seen.add(str(custom_id))


class _Checker:
    def __init__(self, v2: bool, attachment_names: set[str]) -> None:
        self.v2 = v2
        self.names = attachment_names

    def children(self, components: Sequence[Any], where: str, allowed: frozenset[int] | set[int]) -> None:
        for index, component in enumerate(components):
            path = f"{where}.{index}"
            if not isinstance(component, dict) or not isinstance(component.get("type"), int):
                raise ComponentError(path, "A component needs a type")
            kind = component["type"]
            if kind in V2_ONLY and not self.v2:
                raise ComponentError(path, "This component type needs the IS_COMPONENTS_V2 flag")
            if kind not in allowed:
                raise ComponentError(path, f"Component type {kind} is not allowed here")
            self.one(component, path)

    def one(self, component: dict[str, Any], path: str) -> None:
        kind = component["type"]
        if kind == CONTAINER:
            inner = component.get("components") or []
            if not inner:
                raise ComponentError(path, "A container needs at least one component")
            self.children(inner, f"{path}.components", IN_CONTAINER)
        elif kind == ACTION_ROW:
            self.action_row(component, path)
        elif kind == SECTION:
            inner = component.get("components") or []
            if not 1 <= len(inner) <= MAX_SECTION_TEXTS:
                raise ComponentError(path, f"A section holds 1 to {MAX_SECTION_TEXTS} text displays")
            self.children(inner, f"{path}.components", {TEXT_DISPLAY})
            accessory = component.get("accessory")
            if not isinstance(accessory, dict) or accessory.get("type") not in (BUTTON, THUMBNAIL):
                raise ComponentError(f"{path}.accessory", "A section needs a button or a thumbnail as accessory")
            self.one(accessory, f"{path}.accessory")
        elif kind == TEXT_DISPLAY:
            if not str(component.get("content") or ""):
                raise ComponentError(f"{path}.content", "A text display can't be empty")
        elif kind == THUMBNAIL:
            self.media(component.get("media"), f"{path}.media")
            self.description(component, path)
        elif kind == MEDIA_GALLERY:
            items = component.get("items") or []
            if not 1 <= len(items) <= MAX_GALLERY_ITEMS:
                raise ComponentError(f"{path}.items", f"A media gallery holds 1 to {MAX_GALLERY_ITEMS} items")
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    raise ComponentError(f"{path}.items.{index}", "A gallery item is an object")
                self.media(item.get("media"), f"{path}.items.{index}.media")
                self.description(item, f"{path}.items.{index}")
        elif kind == FILE:
            media = component.get("file")
            url = media.get("url") if isinstance(media, dict) else None
            if not isinstance(url, str) or not url.startswith(ATTACHMENT_SCHEME):
                raise ComponentError(f"{path}.file", "A file component must point to attachment://<filename>")
            self.media(media, f"{path}.file")
        elif kind == SEPARATOR:
            spacing = component.get("spacing", 1)
            if spacing not in (1, 2):
                raise ComponentError(f"{path}.spacing", "Spacing is 1 (small) or 2 (large)")
        elif kind == BUTTON or kind in SELECTS:
            raise ComponentError(path, "Buttons and selects go in an action row")

    def action_row(self, row: dict[str, Any], path: str) -> None:
        inner = row.get("components") or []
        if not inner:
            raise ComponentError(path, "An action row needs at least one component")
        if any(isinstance(c, dict) and c.get("type") in SELECTS for c in inner):
            if len(inner) != 1:
                raise ComponentError(path, "A select fills its action row alone")
        elif len(inner) > MAX_ROW_BUTTONS:
            raise ComponentError(path, f"An action row holds at most {MAX_ROW_BUTTONS} buttons")
        for index, component in enumerate(inner):
            where = f"{path}.components.{index}"
            kind = component.get("type") if isinstance(component, dict) else None
            if kind == BUTTON:
                self.button(component, where)
            elif kind in SELECTS:
                if not component.get("custom_id"):
                    raise ComponentError(where, "A select needs a custom_id")
            else:
                raise ComponentError(where, f"Component type {kind} can't sit in an action row")

    def button(self, button: dict[str, Any], path: str) -> None:
        style = button.get("style")
        if style not in (1, 2, 3, 4, 5, 6):
            raise ComponentError(f"{path}.style", "Unknown button style")
        if style == 5 and not button.get("url"):
            raise ComponentError(path, "A link button needs a url")
        if style not in (5, 6) and not button.get("custom_id"):
            raise ComponentError(path, "A button needs a custom_id")
        if len(str(button.get("label") or "")) > MAX_BUTTON_LABEL:
            raise ComponentError(f"{path}.label", f"Must be {MAX_BUTTON_LABEL} or fewer in length.")
        if not button.get("label") and not button.get("emoji") and style != 6:
            raise ComponentError(path, "A button needs a label or an emoji")

    def media(self, media: Any, path: str) -> None:
        url = media.get("url") if isinstance(media, dict) else None
        if not isinstance(url, str) or not url:
            raise ComponentError(path, "Media needs a url")
        if url.startswith(ATTACHMENT_SCHEME):
            name = url.removeprefix(ATTACHMENT_SCHEME)
            if name not in self.names:
                raise ComponentError(path, f"attachment://{name} is not a file of this message")
        elif not url.startswith(("https://", "http://")):
            raise ComponentError(path, "Media must be a web URL or attachment://<filename>")

    def description(self, holder: dict[str, Any], path: str) -> None:
        if len(str(holder.get("description") or "")) > MAX_DESCRIPTION:
            raise ComponentError(f"{path}.description", f"Must be {MAX_DESCRIPTION} or fewer in length.")


def resolved(components: Sequence[Any], attachments: Sequence[FakeAttachment]) -> list[Any]:
    """The components as Discord answers with them: numbered, and `attachment://` media pointing to the file."""
    by_name = {attachment.filename: attachment for attachment in attachments}
    counter = iter(range(1, 10_000))

    def copy(node: Any) -> Any:
        if isinstance(node, list):
            return [copy(item) for item in node]
        if not isinstance(node, dict):
            return node
        # Numbered in reading order, a component before what it holds.
        number = next(counter) if isinstance(node.get("type"), int) and "id" not in node else None
        out = {key: copy(value) for key, value in node.items()}
        if number is not None:
            out["id"] = number
        url = out.get("url") if "media" not in out and "type" not in out else None
        if isinstance(url, str) and url.startswith(ATTACHMENT_SCHEME):
            attachment = by_name.get(url.removeprefix(ATTACHMENT_SCHEME))
            if attachment is not None:
                out.update(
                    url=attachment.url,
                    proxy_url=attachment.url,
                    content_type=attachment.content_type,
                    attachment_id=str(attachment.id),
                )
                if attachment.width is not None:
                    out.update(width=attachment.width, height=attachment.height)
        return out

    return [copy(component) for component in components]
