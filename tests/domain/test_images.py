"""Images judged by their bytes, re-encoded to fit the request body, and mapped to request slots."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms, JpegImagePlugin, PngImagePlugin

from bot.domain.errors import RequestValidationError
from bot.domain.images import (
    MAX_IMAGE_BYTES,
    CheckedImage,
    base64_size,
    check_image,
    fit_images_to_body,
    image_slots,
)
from bot.domain.request import ImageRole, ImageSlot


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def solid(width: int, height: int, fmt: str = "PNG") -> bytes:
    return encode(Image.new("RGB", (width, height), (30, 120, 200)), fmt)


def noise(width: int, height: int, mode: str = "RGB") -> bytes:
    """A PNG that barely compresses, so it is large for its dimensions."""
    channels = len(mode)
    return encode(Image.frombytes(mode, (width, height), os.urandom(width * height * channels)), "PNG")


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG declaring any dimensions: the shape of a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def refused(data: bytes, option: str = "first_frame") -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        check_image(option, data)
    return caught.value


def total_encoded(images: list[CheckedImage]) -> int:
    return sum(base64_size(len(image.data)) for image in images)


# --- check_image ---------------------------------------------------------------------------------------------


def test_png_is_described_by_its_bytes() -> None:
    data = solid(640, 360)

    image = check_image("first_frame", data)

    assert image == CheckedImage("first_frame", data, "image/png", 640, 360, hashlib.sha256(data).hexdigest())


def test_jpeg_is_described_by_its_bytes() -> None:
    image = check_image("reference_2", solid(360, 640, "JPEG"))

    assert (image.option, image.mime, image.width, image.height) == ("reference_2", "image/jpeg", 360, 640)


@pytest.mark.parametrize(("width", "height"), [(300, 300), (750, 300), (300, 750)])
def test_sizes_exactly_at_the_limits_are_accepted(width: int, height: int) -> None:
    assert check_image("first_frame", solid(width, height)).width == width


def test_file_of_exactly_10_mb_is_accepted() -> None:
    png = solid(300, 300)
    # PNG readers ignore bytes after IEND, which pads the file to the limit without a huge image.
    data = png + b"\0" * (MAX_IMAGE_BYTES - len(png))

    assert check_image("first_frame", data).mime == "image/png"


def test_file_over_10_mb_is_refused() -> None:
    png = solid(300, 300)
    error = refused(png + b"\0" * (MAX_IMAGE_BYTES + 1 - len(png)))

    assert error.option == "first_frame"
    assert "10 MB or smaller" in error.message


@pytest.mark.parametrize(
    ("fmt", "kind"), [("GIF", "a GIF"), ("WEBP", "a WebP image"), ("BMP", "a BMP image")], ids=["gif", "webp", "bmp"]
)
def test_other_image_types_are_refused_by_their_bytes(fmt: str, kind: str) -> None:
    # Only bytes reach check_image: whatever the file was called (.png), its content decides.
    error = refused(solid(400, 400, fmt), option="reference_1")

    assert error.option == "reference_1"
    assert kind in error.message
    assert "PNG or JPEG" in error.message


def test_garbage_is_refused_as_not_png_or_jpeg() -> None:
    error = refused(b"this is not an image at all")

    assert error.option == "first_frame"
    assert "PNG or JPEG" in error.message


def test_empty_file_is_refused() -> None:
    error = refused(b"")

    assert "empty file" in error.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(solid(400, 400, "JPEG")[:300], id="truncated-jpeg"),
        pytest.param(noise(400, 400)[:-5000], id="truncated-png"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, id="png-magic-then-garbage"),
        pytest.param(b"\xff\xd8\xff" + b"\x13" * 200, id="jpeg-magic-then-garbage"),
    ],
)
def test_corrupt_image_is_refused_as_damaged(data: bytes) -> None:
    error = refused(data)

    assert error.option == "first_frame"
    assert "could not be read" in error.message


def test_side_under_300_px_is_refused_with_the_measured_size() -> None:
    error = refused(solid(299, 700))

    assert error.option == "first_frame"
    assert "299×700 px" in error.message
    assert "at least 300 px" in error.message


@pytest.mark.parametrize(("width", "height", "shown"), [(751, 300, "2.50:1"), (300, 1000, "1:3.33")])
def test_shape_outside_2_5_to_1_is_refused(width: int, height: int, shown: str) -> None:
    error = refused(solid(width, height))

    assert error.option == "first_frame"
    assert f"{width}×{height} px" in error.message
    assert shown in error.message
    assert "between 1:2.5 and 2.5:1" in error.message


@pytest.mark.parametrize(("width", "height"), [(9000, 9000), (20000, 20000)])
def test_decompression_bomb_is_refused(width: int, height: int) -> None:
    error = refused(png_header_only(width, height))

    assert error.option == "first_frame"
    assert "megapixels" in error.message


# --- metadata ------------------------------------------------------------------------------------------------

# Where the photo was taken, as a phone writes it (degrees, minutes, seconds).
PARIS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (48.0, 51.0, 29.6),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (2.0, 17.0, 40.2),
}


def halves(width: int, height: int) -> Image.Image:
    """Red on the left, blue on the right: which way up a picture is shows in its pixels."""
    picture = Image.new("RGB", (width, height), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, width // 2, height))
    return picture


def phone_jpeg(picture: Image.Image, *, orientation: int = 1, comment: bytes = b"") -> bytes:
    """A JPEG as a phone camera saves it: maker, GPS position and orientation in its EXIF."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCorp"
    exif[ExifTags.Base.Model] = "Pocket 12"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = PARIS
    out = io.BytesIO()
    picture.save(out, format="JPEG", exif=exif, comment=comment, quality=85)
    return out.getvalue()


def metadata_of(data: bytes) -> tuple[dict[int, object], set[str]]:
    """The EXIF tags and the other info keys Pillow finds in the bytes (JFIF's own fields left out)."""
    with Image.open(io.BytesIO(data)) as image:
        exif = dict(image.getexif())
        keys = {key for key in image.info if not key.startswith("jfif") and key not in ("dpi",)}
    return exif, keys


def test_a_phone_jpeg_carrying_gps_comes_out_without_any_metadata() -> None:
    data = phone_jpeg(halves(640, 480), comment=b"taken at home")
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the position really is in what the member sent

    image = check_image("first_frame", data)

    assert metadata_of(image.data) == ({}, set())
    for trace in (b"Exif", b"PhoneCorp", b"Pocket 12", b"taken at home"):
        assert trace not in image.data
    assert image.sha256 == hashlib.sha256(image.data).hexdigest()


def test_a_jpeg_keeps_its_quality_when_its_metadata_goes() -> None:
    data = phone_jpeg(halves(640, 480))

    image = check_image("first_frame", data)

    with Image.open(io.BytesIO(data)) as sent, Image.open(io.BytesIO(image.data)) as kept:
        assert isinstance(sent, JpegImagePlugin.JpegImageFile) and isinstance(kept, JpegImagePlugin.JpegImageFile)
        assert kept.quantization == sent.quantization


def test_the_exif_orientation_is_applied_before_it_is_dropped() -> None:
    # Stored sideways, 640x480, with "rotate 90° clockwise to view" (6): the member saw a 480x640 portrait whose
    # top half is red.
    data = phone_jpeg(halves(640, 480), orientation=6)

    image = check_image("first_frame", data)

    assert (image.width, image.height) == (480, 640)
    with Image.open(io.BytesIO(image.data)) as kept:
        assert kept.size == (480, 640)
        top, bottom = kept.convert("RGB").getpixel((240, 100)), kept.convert("RGB").getpixel((240, 540))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60  # red
    assert bottom[2] > 200 and bottom[0] < 60  # blue


def test_a_png_loses_its_text_exif_and_anything_after_its_end() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Alice Example")
    text.add_itxt("Location", "12 Example Street")
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = PARIS
    out = io.BytesIO()
    halves(400, 400).save(out, format="PNG", pnginfo=text, exif=exif)
    data = out.getvalue() + b"hidden bytes after IEND"

    image = check_image("reference_1", data)

    assert metadata_of(image.data) == ({}, set())
    for trace in (b"Alice Example", b"Example Street", b"eXIf", b"hidden bytes"):
        assert trace not in image.data
    with Image.open(io.BytesIO(image.data)) as kept, Image.open(io.BytesIO(data)) as sent:
        assert kept.tobytes() == sent.tobytes()  # lossless: the same pixels


def test_a_colour_profile_is_applied_then_dropped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    halves(400, 400).save(out, format="PNG", icc_profile=srgb)

    image = check_image("first_frame", out.getvalue())

    assert metadata_of(image.data) == ({}, set())
    with Image.open(io.BytesIO(image.data)) as kept:
        left = kept.convert("RGB").getpixel((50, 200))
    assert isinstance(left, tuple) and left[0] > 250 and left[2] < 5


def test_palette_transparency_survives_the_re_encoding() -> None:
    picture = Image.new("P", (300, 300), 1)
    picture.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    out = io.BytesIO()
    picture.save(out, format="PNG", transparency=1)

    image = check_image("first_frame", out.getvalue())

    with Image.open(io.BytesIO(image.data)) as kept:
        assert kept.info.get("transparency") == 1


# --- fit_images_to_body --------------------------------------------------------------------------------------


def test_images_that_fit_are_returned_untouched() -> None:
    images = [check_image("first_frame", solid(400, 400)), check_image("last_frame", solid(400, 400))]

    fitted = fit_images_to_body(images, budget_bytes=total_encoded(images))

    assert all(after is before for after, before in zip(fitted, images, strict=True))


def test_largest_image_is_reencoded_as_jpeg_with_the_same_dimensions() -> None:
    big = check_image("reference_1", noise(500, 400))
    small = check_image("reference_2", solid(400, 400))
    budget = total_encoded([big, small]) - 1000

    fitted = fit_images_to_body([big, small], budget)

    assert total_encoded(fitted) <= budget
    assert fitted[1] is small
    reencoded = fitted[0]
    assert (reencoded.option, reencoded.mime, reencoded.width, reencoded.height) == (
        "reference_1",
        "image/jpeg",
        500,
        400,
    )
    assert reencoded.sha256 == hashlib.sha256(reencoded.data).hexdigest() != big.sha256
    again = check_image("reference_1", reencoded.data)
    assert (again.mime, again.width, again.height) == ("image/jpeg", 500, 400)


def test_tighter_budget_lowers_quality_further() -> None:
    big = check_image("first_frame", noise(400, 400))
    loose = fit_images_to_body([big], total_encoded([big]) - 1)[0]

    tight = fit_images_to_body([big], base64_size(len(loose.data)) - 1)[0]

    assert len(tight.data) < len(loose.data)


def test_an_image_is_never_replaced_by_a_larger_reencoding() -> None:
    # A low-quality JPEG only grows at quality 90..40, so the other image has to give way instead.
    out = io.BytesIO()
    Image.frombytes("RGB", (1800, 1800), os.urandom(1800 * 1800 * 3)).save(
        out, format="JPEG", quality=15, optimize=True
    )
    low_quality = check_image("reference_1", out.getvalue())
    png = check_image("reference_2", noise(300, 300))
    assert len(low_quality.data) > len(png.data)
    budget = total_encoded([low_quality, png]) - 1

    fitted = fit_images_to_body([low_quality, png], budget)

    assert fitted[0] is low_quality
    assert fitted[1].mime == "image/jpeg"
    assert total_encoded(fitted) <= budget


def test_transparency_is_flattened_on_white() -> None:
    # Random colour under a fully transparent alpha: big as PNG, but it displays as nothing.
    pixels = bytearray(os.urandom(300 * 300 * 4))
    pixels[3::4] = bytes(300 * 300)
    clear = Image.frombytes("RGBA", (300, 300), bytes(pixels))
    image = check_image("first_frame", encode(clear, "PNG"))

    fitted = fit_images_to_body([image], total_encoded([image]) - 1)[0]

    with Image.open(io.BytesIO(fitted.data)) as decoded:
        assert decoded.format == "JPEG"
        pixel = decoded.convert("RGB").getpixel((150, 150))
    assert isinstance(pixel, tuple)
    assert min(pixel) >= 250


def test_images_too_large_even_recompressed_are_refused() -> None:
    images = [check_image("first_frame", noise(400, 400))]

    with pytest.raises(RequestValidationError) as caught:
        fit_images_to_body(images, budget_bytes=1000)

    assert caught.value.option is None
    assert "too large" in caught.value.message


def test_base64_size_rounds_up_to_whole_groups() -> None:
    assert [base64_size(n) for n in (0, 1, 3, 4)] == [0, 4, 4, 8]


# --- image_slots ---------------------------------------------------------------------------------------------


def checked(option: str, sha: str) -> CheckedImage:
    return CheckedImage(option, b"", "image/png", 300, 300, sha)


def test_slots_map_options_to_roles_in_request_order() -> None:
    images = [checked("reference_2", "r2"), checked("last_frame", "l"), checked("reference_1", "r1")]
    images.insert(1, checked("first_frame", "f"))

    assert image_slots(images) == (
        ImageSlot(ImageRole.FIRST_FRAME, 1, "f"),
        ImageSlot(ImageRole.LAST_FRAME, 1, "l"),
        ImageSlot(ImageRole.REFERENCE, 1, "r1"),
        ImageSlot(ImageRole.REFERENCE, 2, "r2"),
    )


def test_slot_for_an_unknown_option_is_a_bug() -> None:
    with pytest.raises(ValueError, match="prompt"):
        image_slots([checked("prompt", "x")])
