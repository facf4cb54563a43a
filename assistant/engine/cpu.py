"""How many CPU threads llama.cpp should use: one per physical core this process may run on.

llama-cpp-python's own default is ``os.cpu_count() // 2``, which assumes two hyperthreads per
core. On a machine without SMT (many VMs and CI runners: 2 cores, 2 CPUs) that is half the
cores, and decode runs about 30% slower (docs/benchmarks.md). Here the CPUs this process may
use (its affinity mask) are grouped by their core as Linux reports it in sysfs
(``topology/core_id`` within ``topology/physical_package_id``); where sysfs says nothing (other
systems, containers that hide it) every allowed CPU counts as a core.

Imports only the standard library.
"""

from __future__ import annotations

import os
from pathlib import Path

_SYSFS_CPU = Path("/sys/devices/system/cpu")


def allowed_cpus() -> list[int]:
    """The CPU numbers this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def physical_cores(sysfs: Path = _SYSFS_CPU) -> int:
    """Physical cores among the CPUs this process may use (at least 1)."""
    cpus = allowed_cpus()
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(cpus))  # no topology: count CPUs, as before
        cores.add((package, core))
    return max(1, len(cores))
