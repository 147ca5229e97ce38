"""Benchmarks that print figures (never pass/fail): run `python -m bench` from the repository root.

`python -m bench --quick` is the same with smaller numbers (under a minute). Each benchmark starts the real bot
(`python -m bot`) as a child process against the fake Discord and fake video API of `tests/fakes`, on loopback.
"""
