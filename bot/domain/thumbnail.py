"""The first frame as the card shows it: a small PNG, whatever the member uploaded (up to 10 MB, 64 MP).

The card carries it as a file of its own and refers to it by one fixed name, so each edit of the card can point
to it without knowing what was uploaded; small, so posting a card never re-uploads a member's 10 MB photo.
Only stored images (already checked and stripped of metadata) come here.
"""

from __future__ import annotations

import io

from PIL import Image

THUMBNAIL_NAME = "first-frame.png"
THUMBNAIL_SIDE = 320  # Discord shows a card's thumbnail at most about 80 px wide; a few times that stays sharp


def thumbnail_png(data: bytes, side: int = THUMBNAIL_SIDE) -> bytes:
    """`data` (a stored PNG or JPEG) shrunk to fit `side`×`side`, keeping its shape, as a PNG."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (side, side))  # JPEG decodes at a fraction of its size: no full decode of a large photo
        small = image.convert("RGB")
        small.thumbnail((side, side))
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
        return out.getvalue()
