"""The dependency files: every import is declared, every package is locked with its hashes, the two locks agree,
and every install the project tells anyone to run (README, CI, Dockerfile) goes through a lock."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_IN, DEV_IN = ROOT / "requirements.in", ROOT / "requirements-dev.in"
RUNTIME_LOCK, DEV_LOCK = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) for each package of a pip-compile lock."""
    logical = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    found = {}
    for line in logical.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        match = PIN.match(requirement)
        assert match, f"{path.name}: {requirement!r} is not pinned with =="
        hashes = frozenset(option.removeprefix("--hash=") for option in options if option.startswith("--hash="))
        found[canonical(match.group(1))] = (match.group(2), hashes)
    return found


def declared(path: Path) -> dict[str, str]:
    """name -> version of the pins an .in file makes, with those of the files it includes with -r."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-c "):
            continue
        if line.startswith("-r "):
            found |= declared(path.parent / line.removeprefix("-r ").strip())
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        found[canonical(match.group(1))] = match.group(2)
    return found


def third_party_imports(folder: str) -> set[str]:
    """Top-level modules imported anywhere under `folder` that are neither the standard library nor the project."""
    modules = set()
    for source in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in ("bot", "tests", "bench")}


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """module -> the installed distributions that provide it (canonical names)."""
    provided = packages_distributions()
    return {module: {canonical(d) for d in provided.get(module, [])} for module in modules}


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_locked_package_has_its_hashes(lock: Path) -> None:
    packages = locked(lock)
    assert len(packages) > 15  # the parser read the file, not nothing
    assert [name for name, (_, hashes) in packages.items() if not hashes] == []
    for _, hashes in packages.values():
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes)


@pytest.mark.parametrize(("source", "lock"), [(RUNTIME_IN, RUNTIME_LOCK), (DEV_IN, DEV_LOCK)], ids=["runtime", "dev"])
def test_each_lock_pins_what_its_input_declares(source: Path, lock: Path) -> None:
    wanted = declared(source)
    packages = locked(lock)
    assert {name: packages.get(name, ("missing",))[0] for name in wanted} == wanted


def test_the_dev_lock_holds_the_runtime_lock_unchanged() -> None:
    dev = locked(DEV_LOCK)
    assert {name: dev.get(name) for name in locked(RUNTIME_LOCK)} == locked(RUNTIME_LOCK)
    assert set(declared(DEV_IN)) - set(declared(RUNTIME_IN)) >= {"pytest", "pytest-asyncio", "ruff", "mypy"}


def test_every_package_the_bot_imports_is_a_declared_runtime_dependency() -> None:
    runtime = set(declared(RUNTIME_IN))
    undeclared = {m: d for m, d in distributions_of(third_party_imports("bot")).items() if not d & runtime}
    assert undeclared == {}


def test_every_package_the_tests_and_benchmarks_import_is_declared() -> None:
    everything = set(declared(DEV_IN))
    imports = third_party_imports("tests") | third_party_imports("bench")
    assert "pytest" in imports  # the walk found the test suite's imports
    undeclared = {m: d for m, d in distributions_of(imports).items() if not d & everything}
    assert undeclared == {}


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_each_lock_says_how_to_rebuild_it(lock: Path) -> None:
    header = lock.read_text(encoding="utf-8").split("\n\n", 1)[0][:600]
    assert "pip-compile" in header
    assert "bash .ci/lock" in header
    assert (ROOT / ".ci" / "lock").is_file()


def install_commands(text: str) -> list[str]:
    return re.findall(r"pip install [^\n&]*", text)


def test_the_readme_installs_from_the_locks_with_hashes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = install_commands(readme)
    assert "pip install --require-hashes -r requirements.lock " in commands
    assert "pip install --require-hashes -r requirements-dev.lock " in commands
    assert [c for c in commands if "--require-hashes" not in c] == []
    assert "python3-venv" in readme  # where a stock Debian/Ubuntu Python lacks the venv module


def test_ci_installs_the_dev_lock_with_hashes_and_checks_the_format() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install_commands(script) == ["pip install --quiet --require-hashes -r requirements-dev.lock"]
    assert "ruff format --check" in script
