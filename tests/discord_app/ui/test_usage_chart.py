"""The usage chart is a real PNG a Discord client can show."""

from __future__ import annotations

import io
from datetime import date, timedelta

from PIL import Image

from bot.discord_app.ui.usage_chart import HEIGHT, WIDTH, usage_chart
from bot.services.admin import DayUsage


def test_chart_is_a_png_of_the_expected_size() -> None:
    days = [DayUsage(date(2026, 11, 1) + timedelta(days=n), n * 3, n) for n in range(30)]

    picture = Image.open(io.BytesIO(usage_chart(days, title="Credits per day")))

    assert (picture.format, picture.size) == ("PNG", (WIDTH, HEIGHT))


def test_chart_of_idle_days_still_draws() -> None:
    days = [DayUsage(date(2026, 11, 1) + timedelta(days=n), 0, 0) for n in range(7)]

    assert usage_chart(days, title="Nothing yet").startswith(b"\x89PNG")
