"""The bot's own queue as pure rules: the fair order, the free slots, the gateway hold and places in line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.queue import (
    ApiHold,
    Started,
    Turn,
    Waiting,
    fair_order,
    free_slots,
    hold_after_refusal,
    places,
    shown_place,
)

T0 = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
GUILD_A, GUILD_B, GUILD_C = 1, 2, 3


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def waiting(render_id: str, user: int, second: float, *, guild: int = GUILD_A, take: int = 1) -> Waiting:
    return Waiting(render_id, guild, user, at(second), take)


def four_takes_then_six_members() -> list[Waiting]:
    """The benchmark's scenario: member 1 asks for four takes first, then six members ask for one each."""
    takes = [waiting(f"m1-{take}", 1, 0, take=take) for take in range(1, 5)]
    singles = [waiting(f"u{user}", user, user) for user in range(2, 8)]
    return takes + singles


# ---- the fair order ----------------------------------------------------------------------------------------


def test_one_member_is_first_come_first_served_by_arrival_then_take() -> None:
    renders = [waiting("late", 1, 5), waiting("take-2", 1, 0, take=2), waiting("take-1", 1, 0, take=1)]

    assert fair_order(renders) == ["take-1", "take-2", "late"]


def test_four_takes_get_one_turn_per_round_among_six_single_requests() -> None:
    order = fair_order(four_takes_then_six_members())

    assert order == ["m1-1", "u2", "u3", "u4", "u5", "u6", "u7", "m1-2", "m1-3", "m1-4"]


def test_a_member_whose_render_started_waits_behind_members_not_served_yet() -> None:
    """After the first two started (m1-1 and u2), the remaining takes stay behind everybody's first request:
    a round robin recomputed from the waiting renders alone would put m1-2 first again."""
    still_waiting = [r for r in four_takes_then_six_members() if r.id not in ("m1-1", "u2")]
    started = [Started(GUILD_A, 1, at(10)), Started(GUILD_A, 2, at(10))]

    assert fair_order(still_waiting, started) == ["u3", "u4", "u5", "u6", "u7", "m1-2", "m1-3", "m1-4"]


def test_renders_started_before_the_oldest_waiting_one_arrived_do_not_count() -> None:
    renders = [waiting("a", 1, 100), waiting("b", 2, 101)]
    long_ago = [Started(GUILD_A, 1, at(50)), Started(GUILD_A, 1, at(60))]

    assert fair_order(renders, long_ago) == ["a", "b"]


def test_servers_take_turns_before_members_within_a_server() -> None:
    """Server A has three members waiting, server B one: B's member goes second, not fourth."""
    renders = [
        waiting("a1", 11, 0, guild=GUILD_A),
        waiting("a2", 12, 1, guild=GUILD_A),
        waiting("a3", 13, 2, guild=GUILD_A),
        waiting("b1", 21, 3, guild=GUILD_B),
    ]

    assert fair_order(renders) == ["a1", "b1", "a2", "a3"]


def test_round_robin_across_three_servers_then_members() -> None:
    renders = [
        waiting("a1-1", 11, 0, guild=GUILD_A),
        waiting("a1-2", 11, 0, guild=GUILD_A, take=2),
        waiting("a2-1", 12, 1, guild=GUILD_A),
        waiting("b1-1", 21, 2, guild=GUILD_B),
        waiting("b1-2", 21, 2, guild=GUILD_B, take=2),
        waiting("c1-1", 31, 3, guild=GUILD_C),
    ]

    assert fair_order(renders) == ["a1-1", "b1-1", "c1-1", "a2-1", "b1-2", "a1-2"]


def test_a_server_served_since_the_queue_formed_goes_after_one_that_was_not() -> None:
    renders = [waiting("a", 11, 0, guild=GUILD_A), waiting("b", 21, 5, guild=GUILD_B)]
    started = [Started(GUILD_A, 12, at(2))]

    assert fair_order(renders, started) == ["b", "a"]


def test_the_order_is_the_same_whatever_order_the_rows_come_in() -> None:
    renders = four_takes_then_six_members()

    assert fair_order(reversed(renders)) == fair_order(renders)
    assert fair_order([]) == []


# ---- free slots and the gateway hold -----------------------------------------------------------------------


def test_no_cap_and_no_hold_limit_nothing() -> None:
    assert free_slots(None, None, taken=50, sending=3, now=T0) is None


def test_the_cap_counts_renders_being_sent_and_those_the_gateway_has() -> None:
    assert free_slots(3, None, taken=1, sending=1, now=T0) == 1
    assert free_slots(3, None, taken=2, sending=1, now=T0) == 0
    assert free_slots(2, None, taken=3, sending=0, now=T0) == 0  # the cap was lowered under what runs


def test_a_hold_allows_what_the_gateway_had_when_it_refused() -> None:
    hold = ApiHold(at_api=2, until=at(180))

    assert free_slots(None, hold, taken=2, sending=0, now=at(10)) == 0
    assert free_slots(None, hold, taken=1, sending=0, now=at(10)) == 1  # one finished: its slot is free again
    assert free_slots(1, hold, taken=0, sending=0, now=at(10)) == 1  # and never more than the cap


def test_after_a_hold_one_create_at_a_time_finds_out_whether_the_gateway_takes_more() -> None:
    hold = ApiHold(at_api=2, until=at(180))

    assert free_slots(None, hold, taken=2, sending=0, now=at(180)) == 1
    assert free_slots(None, hold, taken=2, sending=1, now=at(181)) == 0
    assert free_slots(None, hold, taken=3, sending=0, now=at(182)) == 1


def test_a_refusal_with_renders_of_ours_there_waits_for_one_to_finish_or_the_fallback() -> None:
    hold = hold_after_refusal(2, now=T0, backoff=10, fallback=180, retry_after=None)

    assert hold == ApiHold(at_api=2, until=at(180))


def test_a_refusal_with_none_of_ours_there_waits_out_the_back_off_for_the_whole_queue() -> None:
    assert hold_after_refusal(0, now=T0, backoff=20, fallback=180, retry_after=None) == ApiHold(0, at(20))
    assert hold_after_refusal(0, now=T0, backoff=20, fallback=180, retry_after=45) == ApiHold(0, at(45))


# ---- places in line ----------------------------------------------------------------------------------------


def test_places_count_from_the_first_render_that_has_to_wait() -> None:
    assert places(["a", "b", "c", "d"], 1) == {"a": None, "b": 1, "c": 2, "d": 3}
    assert places(["a", "b"], 0) == {"a": 1, "b": 2}
    assert places(["a", "b"], None) == {"a": None, "b": None}


def test_places_far_back_are_shown_to_the_ten() -> None:
    assert [shown_place(p) for p in (1, 3, 10, 11, 20, 21, 95)] == [1, 3, 10, 20, 20, 30, 100]
    assert shown_place(None) is None


def test_a_refused_render_looks_again_at_the_end_of_the_hold_or_the_recheck() -> None:
    minute = timedelta(minutes=1)
    held = Turn(go=False, free=0, hold=ApiHold(0, at(20)))

    assert held.next_look(T0, recheck=minute, deadline=None) == timedelta(seconds=20)
    assert Turn(go=False, free=0).next_look(T0, recheck=minute, deadline=None) == minute
    assert Turn(go=False, free=0).next_look(T0, recheck=minute, deadline=at(30)) == timedelta(seconds=31)
