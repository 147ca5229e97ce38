"""Fixtures for the video API client tests: a fake gateway on loopback and a client that never really sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes.video_api import FakeVideoApi


class RecordingSleep:
    """An injected `sleep` that returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def api() -> AsyncIterator[FakeVideoApi]:
    async with FakeVideoApi() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(session: aiohttp.ClientSession, api: FakeVideoApi, sleeps: RecordingSleep) -> VideoApiClient:
    return VideoApiClient(
        session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=4), sleep=sleeps, rand=lambda: 0.5
    )
