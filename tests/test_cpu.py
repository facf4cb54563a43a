"""Threads for llama.cpp: one per physical core, not llama-cpp-python's cpu_count() // 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.engine import cpu


def _topology(root: Path, cores: dict[int, tuple[str, str]]) -> Path:
    for number, (package, core) in cores.items():
        folder = root / f"cpu{number}" / "topology"
        folder.mkdir(parents=True)
        (folder / "physical_package_id").write_text(package + "\n")
        (folder / "core_id").write_text(core + "\n")
    return root


@pytest.mark.parametrize(
    ("cores", "expected"),
    [
        ({0: ("0", "0"), 1: ("0", "1")}, 2),  # two cores, no SMT: both count
        ({0: ("0", "0"), 1: ("0", "0"), 2: ("0", "1"), 3: ("0", "1")}, 2),  # hyperthreads
        ({0: ("0", "0"), 1: ("1", "0")}, 2),  # two sockets, core 0 each
    ],
)
def test_physical_cores_counts_cores_not_hyperthreads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: dict[int, tuple[str, str]],
    expected: int,
) -> None:  # fmt: skip
    monkeypatch.setattr(cpu, "allowed_cpus", lambda: sorted(cores))
    assert cpu.physical_cores(_topology(tmp_path, cores)) == expected


def test_without_topology_every_allowed_cpu_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu, "allowed_cpus", lambda: [0, 1, 2])
    assert cpu.physical_cores(tmp_path) == 3


def test_this_machine_gets_at_least_half_its_cpus() -> None:
    """llama-cpp-python's default is cpu_count() // 2; ours is never fewer on a real machine."""
    assert cpu.physical_cores() >= max(1, len(cpu.allowed_cpus()) // 2)
