"""Attached images judged by their bytes: type, size, dimensions and shape; re-encoding to fit the request body.

The file name and Discord's declared content type are never trusted here: the magic bytes decide the type and
Pillow reads the dimensions. Every refusal is a `RequestValidationError` naming the option and the measured values.
An image that passes is re-encoded without any metadata (EXIF with its GPS position, XMP, comments, text chunks,
colour profiles, bytes after the end of the image): only its pixels, upright, are stored and sent on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, UnidentifiedImageError

from bot.domain.errors import RequestValidationError
from bot.domain.request import ImageRole, ImageSlot

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_SIDE_PX = 300
# The shape must lie between 1:2.5 and 2.5:1, kept as the integer fraction 5/2 so limits compare exactly.
MAX_RATIO_NUM, MAX_RATIO_DEN = 5, 2
# A 10 MB file can still declare billions of pixels (a decompression bomb); 64 MP covers 8000x8000 and
# every phone photo while bounding what a full decode may allocate.
MAX_PIXELS = 64_000_000
# Quality steps tried, in order, when images must shrink to fit the request body.
JPEG_QUALITIES = (90, 80, 70, 60, 50, 40)

PNG_MIME = "image/png"
JPEG_MIME = "image/jpeg"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_MIME_BY_FORMAT = {"PNG": PNG_MIME, "JPEG": JPEG_MIME}


@dataclass(frozen=True)
class CheckedImage:
    """An image whose bytes passed every rule; `sha256` (hex) keys the stored bytes."""

    option: str
    data: bytes
    mime: str
    width: int
    height: int
    sha256: str


def format_megabytes(size: int) -> str:
    """A size in MB rounded *up* to 0.1, so a file just over the limit never reads as "10.0 MB"."""
    return f"{math.ceil(size * 10 / (1024 * 1024)) / 10:.1f} MB"


def check_image(option: str, data: bytes) -> CheckedImage:
    """Check one downloaded attachment against PRODUCT.md §1 and describe it.

    Raises `RequestValidationError(option, ...)` when the bytes are not a PNG or JPEG, exceed 10 MB, cannot be
    decoded, have a side under 300 px or a shape outside 1:2.5..2.5:1. The image that comes back is the same
    picture without its metadata, turned the way its EXIF orientation said (width and height as shown). CPU work
    (a full decode and encode): run it off the event loop.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise RequestValidationError(
            option,
            f"`{option}` is {format_megabytes(len(data))}; images must be 10 MB or smaller. Attach a smaller file.",
        )
    expected_format = _format_by_magic(data)
    if expected_format is None:
        kind = _describe_other_kind(data)
        raise RequestValidationError(option, f"`{option}` is {kind}; attach a PNG or JPEG image.")

    _check_header(option, data, expected_format)
    clean, width, height = _without_metadata(option, data, expected_format)

    if width < MIN_SIDE_PX or height < MIN_SIDE_PX:
        raise RequestValidationError(
            option, f"`{option}` is {width}×{height} px; each side must be at least {MIN_SIDE_PX} px."
        )
    if width * MAX_RATIO_DEN > height * MAX_RATIO_NUM or height * MAX_RATIO_DEN > width * MAX_RATIO_NUM:
        raise RequestValidationError(
            option,
            f"`{option}` is {width}×{height} px ({_ratio_text(width, height)}); its shape must be between 1:2.5 "
            "and 2.5:1. Crop it closer to square.",
        )
    return CheckedImage(
        option=option,
        data=clean,
        mime=_MIME_BY_FORMAT[expected_format],
        width=width,
        height=height,
        sha256=hashlib.sha256(clean).hexdigest(),
    )


def base64_size(size: int) -> int:
    """How many bytes `size` raw bytes take once base64-encoded (with padding)."""
    return 4 * math.ceil(size / 3)


def fit_images_to_body(images: list[CheckedImage], budget_bytes: int) -> list[CheckedImage]:
    """Return the images, re-encoded where needed so their base64 sizes add up to at most `budget_bytes`.

    When they already fit the list comes back untouched. Otherwise the currently largest image is re-encoded
    as JPEG at the same dimensions, one quality step lower each time (always from the original bytes, so
    quality is lost once), until the total fits. The order of the list is kept. Raises
    `RequestValidationError(None, ...)` when even the lowest quality is not enough.
    """
    current = list(images)
    if _total_encoded(current) <= budget_bytes:
        return current

    next_step = [0] * len(current)  # index into JPEG_QUALITIES tried next, per image
    decoded: dict[int, Image.Image] = {}
    try:
        while _total_encoded(current) > budget_bytes:
            candidates = [i for i in range(len(current)) if next_step[i] < len(JPEG_QUALITIES)]
            if not candidates:
                raise RequestValidationError(
                    None,
                    "The attached images are too large to send together, even recompressed. "
                    "Attach fewer images or smaller ones.",
                )
            index = max(candidates, key=lambda i: len(current[i].data))
            quality = JPEG_QUALITIES[next_step[index]]
            next_step[index] += 1
            if index not in decoded:
                decoded[index] = _flatten_for_jpeg(images[index].data)
            data = _encode_jpeg(decoded[index], quality)
            # A small PNG can grow as JPEG; only ever swap in something smaller.
            if len(data) < len(current[index].data):
                original = images[index]
                log.debug(
                    "re-encoded %s as JPEG q%d: %d -> %d bytes", original.option, quality, len(original.data), len(data)
                )
                current[index] = CheckedImage(
                    option=original.option,
                    data=data,
                    mime=JPEG_MIME,
                    width=original.width,
                    height=original.height,
                    sha256=hashlib.sha256(data).hexdigest(),
                )
    finally:
        for image in decoded.values():
            image.close()
    return current


def image_slots(images: list[CheckedImage], urls: Mapping[str, str] | None = None) -> tuple[ImageSlot, ...]:
    """Where each checked image goes in the request, ordered first frame, last frame, then references by N.

    `urls` maps an option to its Discord attachment URL, kept for models that take images by URL.
    """
    slots = [replace(_slot_for(image), url=(urls or {}).get(image.option)) for image in images]
    order = {ImageRole.FIRST_FRAME: 0, ImageRole.LAST_FRAME: 1, ImageRole.REFERENCE: 2}
    return tuple(sorted(slots, key=lambda slot: (order[slot.role], slot.index)))


def _slot_for(image: CheckedImage) -> ImageSlot:
    if image.option == "first_frame":
        return ImageSlot(ImageRole.FIRST_FRAME, 1, image.sha256)
    if image.option == "last_frame":
        return ImageSlot(ImageRole.LAST_FRAME, 1, image.sha256)
    prefix, _, number = image.option.partition("_")
    if prefix == "reference" and number.isdigit() and int(number) >= 1:
        return ImageSlot(ImageRole.REFERENCE, int(number), image.sha256)
    # Option names come from our own command definition, so anything else is a bug, not user input.
    raise ValueError(f"not an image option: {image.option!r}")


def check_min_side(image: CheckedImage, min_side: int, model_name: str) -> None:
    """Some models want larger inputs than the general rule (HappyHorse references: 400 px)."""
    if min(image.width, image.height) < min_side:
        raise RequestValidationError(
            image.option,
            f"`{image.option}` is {image.width}×{image.height} px; {model_name} needs each side to be at least "
            f"{min_side} px. Attach a larger image, or pick another `model`.",
        )


def image_mime(data: bytes) -> str:
    """The MIME type of checked image bytes (PNG or JPEG, told by their magic bytes)."""
    found = _format_by_magic(data)
    if found is None:
        raise ValueError("not a PNG or JPEG image")
    return _MIME_BY_FORMAT[found]


def _format_by_magic(data: bytes) -> str | None:
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    if data.startswith(_JPEG_MAGIC):
        return "JPEG"
    return None


def _describe_other_kind(data: bytes) -> str:
    """Name a few formats members commonly attach by mistake, so the refusal says what was actually sent."""
    if not data:
        return "an empty file"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "a HEIC image"
        if brand.startswith(b"avi"):
            return "an AVIF image"
        return "a video"
    if data.startswith(b"BM"):
        return "a BMP image"
    return "not a PNG or JPEG image"


def _unreadable(option: str) -> RequestValidationError:
    return RequestValidationError(
        option, f"`{option}` could not be read as a PNG or JPEG image (the file looks damaged); attach it again."
    )


def _check_header(option: str, data: bytes, expected_format: str) -> None:
    """Read the size from the header and refuse bombs before anything decodes the pixels."""
    width = height = 0  # unknown until the header is read
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; a warning here is a bomb all the same.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected_format]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise _too_many_pixels(option, width, height)
                image.verify()
    except RequestValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(option, width, height) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        log.debug("could not read the header of %s: %r", option, error)
        raise _unreadable(option) from None


def _without_metadata(option: str, data: bytes, expected_format: str) -> tuple[bytes, int, int]:
    """Decode every pixel (a truncated or corrupt file fails here) and encode them again with nothing else.

    Re-encoding, rather than cutting metadata segments out, also drops what a segment parser could miss: unknown
    chunks, comments, and data hidden after the image's end. The EXIF orientation is applied first, so the
    picture stays the right way up once the tag that said how to turn it is gone. JPEG keeps its own
    quantisation tables and chroma subsampling, so quality is what the member sent; PNG is lossless anyway.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected_format]) as original:
                original.load()
                options: dict[str, object] = {}
                if expected_format == "JPEG":
                    assert isinstance(original, JpegImagePlugin.JpegImageFile)
                    options["qtables"] = original.quantization
                    sampling = JpegImagePlugin.get_sampling(original)
                    if sampling >= 0:
                        options["subsampling"] = sampling
                profile = original.info.get("icc_profile")
                upright = ImageOps.exif_transpose(original)
            with upright:
                pixels = _in_srgb(upright, profile) if isinstance(profile, bytes) and profile else upright
                # Pillow writes some of `info` back on save (a JPEG's comment); keep only what draws the pixels.
                transparency = pixels.info.get("transparency")
                pixels.info = {} if transparency is None else {"transparency": transparency}
                out = io.BytesIO()
                pixels.save(out, format=expected_format, **options)
                return out.getvalue(), pixels.width, pixels.height
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(option, 0, 0) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        log.debug("could not decode %s: %r", option, error)
        raise _unreadable(option) from None


def _in_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    """The pixels converted from their embedded colour profile to sRGB, so dropping the profile keeps the colours.

    A profile is metadata too (it can name the device), and models read pixels as sRGB anyway. A profile lcms
    can't use, or a mode it can't convert, leaves the pixels as they are.
    """
    if image.mode not in ("RGB", "RGBA"):
        return image
    try:
        converted = ImageCms.profileToProfile(
            image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB"), outputMode=image.mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as error:
        log.debug("colour profile not applied (%r); keeping the pixels as they are", error)
        return image
    return converted if converted is not None else image


def _too_many_pixels(option: str, width: int, height: int) -> RequestValidationError:
    measured = f"is {width}×{height} px" if width and height else "has too many pixels"
    return RequestValidationError(
        option,
        f"`{option}` {measured}; images may have at most {MAX_PIXELS // 1_000_000} megapixels. Scale it down.",
    )


def _ratio_text(width: int, height: int) -> str:
    if width >= height:
        return f"{width / height:.2f}:1"
    return f"1:{height / width:.2f}"


def _flatten_for_jpeg(data: bytes) -> Image.Image:
    """Decode to a mode JPEG can hold (transparency flattened on white, as it would be displayed).

    `data` is a checked image: upright, in sRGB and without metadata, so nothing but the pixels needs carrying over.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        if has_alpha:
            with image.convert("RGBA") as rgba:
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        if image.mode in ("RGB", "L"):
            return image.copy()
        return image.convert("RGB")


def _encode_jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _total_encoded(images: list[CheckedImage]) -> int:
    return sum(base64_size(len(image.data)) for image in images)
