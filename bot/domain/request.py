"""The video request: what a member asked for, before and after validation.

`RawOptions` is what the slash command handed over, untrusted. `VideoRequest` is the validated, normalised
request the rest of the bot works with; it round-trips through JSON (`to_dict` / `from_dict`) so it can be
stored with the render and replayed by Regenerate or after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class GenerationMode(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    REFERENCE = "reference"


class QualityMode(StrEnum):
    STD = "std"
    PRO = "pro"


class AspectRatio(StrEnum):
    """The union of every model's ratios; each model accepts its own subset (the model table says which)."""

    WIDE = "16:9"
    TALL = "9:16"
    SQUARE = "1:1"
    LANDSCAPE = "4:3"
    PORTRAIT = "3:4"
    CINEMA = "21:9"


class ImageRole(StrEnum):
    FIRST_FRAME = "first_frame"
    LAST_FRAME = "last_frame"
    REFERENCE = "reference"


@dataclass(frozen=True)
class AttachmentRef:
    """An image the member attached, as Discord describes it (nothing downloaded yet)."""

    option: str  # the slash option it came from: "first_frame", "last_frame", "reference_1".."reference_4"
    filename: str
    url: str
    size: int  # bytes, as declared by Discord
    content_type: str | None = None  # declared by Discord; never trusted, the bytes decide


@dataclass(frozen=True)
class RawOptions:
    """The options of `/video generate` exactly as received; validation turns them into a `VideoRequest`."""

    prompt: str
    model: str | None = None
    generation_mode: str | None = None
    mode: str | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    multi_shot: bool = False
    negative_prompt: str | None = None
    cfg_scale: float | None = None
    watermark: bool | None = None
    sound: bool | None = None
    seed: int | None = None
    first_frame: AttachmentRef | None = None
    last_frame: AttachmentRef | None = None
    # reference_1..reference_4 by position; a gap (reference_1 and reference_3 given) is kept as None
    references: tuple[AttachmentRef | None, ...] = (None, None, None, None)
    takes: int | None = None


@dataclass(frozen=True)
class ChannelDefaults:
    """Defaults a moderator set for a channel; each None falls back to the server's, then the product's default."""

    model: str | None = None
    mode: QualityMode | None = None
    duration: int | None = None
    aspect_ratio: AspectRatio | None = None
    negative_prompt: str | None = None
    sound: bool | None = None
    thread_per_request: bool = False


@dataclass(frozen=True)
class Shot:
    prompt: str
    duration: int  # whole seconds, >= 1


@dataclass(frozen=True)
class ImageSlot:
    """Where a checked image goes in the request; `sha256` keys its stored bytes."""

    role: ImageRole
    index: int  # 1-based; references keep the N of `<<<image_N>>>`; frames use 1
    sha256: str
    # Discord's signed attachment URL, for models that take images by URL (refreshed when it has expired).
    url: str | None = None


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    generation_mode: GenerationMode
    mode: QualityMode
    duration: int  # seconds; for multi-shot the total of the shots
    aspect_ratio: AspectRatio | None  # None in image mode: the first frame decides
    negative_prompt: str | None = None
    cfg_scale: float = 0.5
    watermark: bool = False
    multi_shot: bool = False
    shots: tuple[Shot, ...] = ()  # filled from the storyboard when multi_shot
    images: tuple[ImageSlot, ...] = ()  # filled once attachments are downloaded and checked
    takes: int = 1
    model: str = "kling-v3"
    sound: bool | None = None  # None: the model has no sound switch (silent, or always with sound)
    seed: int | None = None  # None: the model takes no seed (or it is drawn when the render is accepted)
    # Things the member should be told but that are not errors, e.g. "aspect ratio ignored in image mode".
    notes: tuple[str, ...] = field(default=())

    def with_images(self, images: tuple[ImageSlot, ...]) -> VideoRequest:
        return replace(self, images=images)

    def with_shots(self, shots: tuple[Shot, ...]) -> VideoRequest:
        return replace(self, shots=shots, duration=sum(s.duration for s in shots))

    def with_prompt(self, prompt: str) -> VideoRequest:
        return replace(self, prompt=prompt)

    def with_seed(self, seed: int | None) -> VideoRequest:
        return replace(self, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "generation_mode": self.generation_mode.value,
            "mode": self.mode.value,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio.value if self.aspect_ratio else None,
            "negative_prompt": self.negative_prompt,
            "cfg_scale": self.cfg_scale,
            "watermark": self.watermark,
            "multi_shot": self.multi_shot,
            "shots": [{"prompt": s.prompt, "duration": s.duration} for s in self.shots],
            "images": [{"role": i.role.value, "index": i.index, "sha256": i.sha256, "url": i.url} for i in self.images],
            "takes": self.takes,
            "model": self.model,
            "sound": self.sound,
            "seed": self.seed,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoRequest:
        ratio = data.get("aspect_ratio")
        return cls(
            prompt=data["prompt"],
            generation_mode=GenerationMode(data["generation_mode"]),
            mode=QualityMode(data["mode"]),
            duration=int(data["duration"]),
            aspect_ratio=AspectRatio(ratio) if ratio else None,
            negative_prompt=data.get("negative_prompt"),
            cfg_scale=float(data.get("cfg_scale", 0.5)),
            watermark=bool(data.get("watermark", False)),
            multi_shot=bool(data.get("multi_shot", False)),
            shots=tuple(Shot(s["prompt"], int(s["duration"])) for s in data.get("shots", ())),
            images=tuple(
                ImageSlot(ImageRole(i["role"]), int(i["index"]), i["sha256"], i.get("url"))
                for i in data.get("images", ())
            ),
            takes=int(data.get("takes", 1)),
            model=data.get("model", "kling-v3"),
            sound=data.get("sound"),
            seed=data.get("seed"),
            notes=tuple(data.get("notes", ())),
        )
