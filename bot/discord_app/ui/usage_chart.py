"""A bar chart of credits per day for `/videoadmin usage`, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from bot.services.admin import DayUsage

WIDTH, HEIGHT = 900, 360
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 20, 40, 50
BACKGROUND = (43, 45, 49)  # Discord's dark theme, so the image sits quietly in the reply
BAR = (88, 101, 242)  # blurple
TEXT = (220, 221, 222)
GRID = (70, 72, 78)


def usage_chart(days: list[DayUsage], *, title: str) -> bytes:
    """PNG bytes: one bar per day (oldest left), the credits kept that day; a grid line at the top value."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.text((MARGIN_LEFT, 10), title, fill=TEXT, font=font)
    top = max((day.credits for day in days), default=0) or 1
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    baseline = HEIGHT - MARGIN_BOTTOM
    draw.line((MARGIN_LEFT, MARGIN_TOP, WIDTH - MARGIN_RIGHT, MARGIN_TOP), fill=GRID)
    draw.line((MARGIN_LEFT, baseline, WIDTH - MARGIN_RIGHT, baseline), fill=GRID)
    draw.text((8, MARGIN_TOP - 8), str(top), fill=TEXT, font=font)
    draw.text((8, baseline - 8), "0", fill=TEXT, font=font)
    slot = plot_width / max(len(days), 1)
    # Label every day for a week; for a month every fifth, or the labels run into each other.
    label_every = 1 if len(days) <= 10 else 5
    for index, day in enumerate(days):
        left = MARGIN_LEFT + index * slot + slot * 0.15
        right = MARGIN_LEFT + (index + 1) * slot - slot * 0.15
        if day.credits:
            height = plot_height * day.credits / top
            draw.rectangle((left, baseline - height, right, baseline), fill=BAR)
        if index % label_every == 0 or index == len(days) - 1:
            draw.text((left, baseline + 8), day.day.strftime("%m-%d"), fill=TEXT, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
