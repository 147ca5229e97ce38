"""Two bot processes, one shard each, sharing one database (on each backend; PostgreSQL is how operators run it).

Twenty renders are accepted, half in a guild of each shard, each interaction arriving on the process of its guild's
shard. While every render is still rendering at the API, one process is SIGKILLed holding leases on some of them.
The survivor then delivers all twenty clips, each exactly once, taking the dead process's renders only once their
leases have expired; the API is asked to create each render once.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime

from discord.utils import snowflake_time
from sqlalchemy import false, select

from bot.storage.tables import renders
from tests.e2e.conftest import World, eventually, replies_to, wait_title
from tests.fakes.bot_process import BotProcess
from tests.fakes.discord import FakeMessage

SHARDS = 2
RENDERS = 20
LEASE_SECONDS = 3  # short, so the survivor takes the dead process's renders over within seconds
MEMBERS = 4


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


def clips(world: World, status: FakeMessage) -> list[FakeMessage]:
    return [m for m in replies_to(world, status) if m.attachments]


async def freeze_holding_a_lease(world: World, bot: BotProcess, owner: str) -> dict[str, datetime]:
    """Stop the process (SIGSTOP) at a moment it holds leases; returns them (render id -> lease end).

    Frozen, it can neither release nor renew them, so what the database says is exactly what it dies with.
    """
    leased = select(renders.c.id, renders.c.lease_until).where(
        renders.c.lease_owner == owner, renders.c.closed == false()
    )
    async with asyncio.timeout(30):
        while True:
            bot.kill(signal.SIGSTOP)
            if held := await world.rows(leased):
                return {render_id: until for render_id, until in held}
            bot.kill(signal.SIGCONT)
            # Leases come and go with each step, recording no event anywhere: only looking again finds one held.
            await asyncio.sleep(0.05)


async def test_the_survivor_delivers_every_clip_exactly_once_after_the_other_process_is_killed(world: World) -> None:
    fake = world.discord
    fake.shard_count = SHARDS
    members = [fake.add_user(f"member{n}") for n in range(MEMBERS)]
    home = fake.guild
    away = fake.add_guild("Second Guild", shard=(1 - shard_of(home.id), SHARDS), members=members)
    channel_of = {home.id: fake.channel.id, away.id: next(iter(away.channels))}
    world.api.configure(outcome="stuck", video_size=50_000)
    env = {
        "LEASE_SECONDS": str(LEASE_SECONDS),
        "MAX_IN_FLIGHT_PER_MEMBER": "unlimited",
        "DEFAULT_DAILY_CREDITS": "unlimited",
        # Every render asked about once a second stays within the status-call cap, shared by the processes: past
        # it, the oldest renders are asked first and the youngest wait (by design) up to two minutes.
        "POLL_INTERVAL_SECONDS": "1",
        "MAX_STATUS_CALLS_PER_SECOND": "40",
    }
    bots = [await world.start_shard(shard, SHARDS, **env) for shard in range(SHARDS)]

    guild_of: dict[int, int] = {}
    sent = []
    for n in range(RENDERS):
        guild = (home, away)[n % 2]
        interaction = await world.slash(
            "generate",
            options={"prompt": f"render number {n}"},
            channel_id=channel_of[guild.id],
            user=members[n % MEMBERS],
        )
        guild_of[interaction.id] = guild.id
        sent.append(interaction)
    for interaction in sent:
        assert "on its way" in await world.ephemeral_reply(interaction, timeout=20)

    # Each process was given the interactions of its own shard's guild, and only those.
    for shard in range(SHARDS):
        given = {int(p["id"]) for p in fake.dispatched("INTERACTION_CREATE", shard=shard)}
        assert given == {i for i, g in guild_of.items() if shard_of(g) == shard}
        assert len(given) == RENDERS // SHARDS

    # Every render was created once and is rendering at the API, its card saying so in its channel.
    await eventually(
        lambda: len(world.api.tasks) == RENDERS and all(t.status_calls > 0 for t in world.api.tasks.values()),
        timeout=30,
    )
    cards = await world.rows(select(renders.c.id, renders.c.status_message_id))
    assert len(cards) == RENDERS
    assert all(message_id is not None for _, message_id in cards)
    status_of = {render_id: fake.message(int(message_id)) for render_id, message_id in cards}
    for status in status_of.values():
        assert status is not None
        await wait_title(world, status, "Rendering")

    victim, survivor = bots
    held = await freeze_holding_a_lease(world, victim, World.shard_instance(0))
    victim.kill(signal.SIGKILL)
    await victim.wait_exit(timeout=10)
    for task_id in world.api.tasks:
        world.api.set_script(task_id, outcome="success", render_polls=0)

    # Every clip is posted after the kill, so by the survivor: those of the dead process's guild included.
    for status in status_of.values():
        assert status is not None
        await wait_title(world, status, "Done", timeout=40)
        await fake.wait_for(lambda status=status: clips(world, status), timeout=20)
    await survivor.stop()  # lets any step in progress finish: a duplicate would be posted by now

    delivered = {render_id: clips(world, status) for render_id, status in status_of.items() if status is not None}
    assert {render_id: len(found) for render_id, found in delivered.items()} == dict.fromkeys(status_of, 1)
    assert sum(len([m for m in fake.messages(c) if m.attachments]) for c in channel_of.values()) == RENDERS
    assert len(fake.uploads) == RENDERS
    assert world.create_calls() == RENDERS
    # The renders the dead process held were left alone until their leases ran out.
    for render_id, lease_until in held.items():
        (clip,) = delivered[render_id]
        assert snowflake_time(clip.id) >= lease_until
    assert victim.returncode == -signal.SIGKILL
