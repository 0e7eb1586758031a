"""CPU time of processes, from /proc: one process, a process and everything under it, the
machine's Redis and PostgreSQL servers, and the load of processes outside a benchmark."""

import os
import time
from pathlib import Path


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after "pid (comm) ": the state is [0], the parent [1]."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def _ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    return _ticks(_stat(pid)) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, int, int]]:
    """Every process: (name, parent, CPU ticks)."""
    found: dict[int, tuple[str, int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry)] = (name, int(fields[1]), _ticks(fields))
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU time used by `root` and every process under it that still runs."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += processes[pid][2] if pid in processes else 0
        todo.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time used by this process and every process under it (sink, Redis, worker)."""
    return tree_cpu_seconds(os.getpid())


def _named_cpu_seconds(prefix: str) -> float:
    ticks = sum(t for name, _, t in _processes().values() if name.startswith(prefix))
    return ticks / os.sysconf("SC_CLK_TCK")


def redis_cpu_seconds() -> float:
    """CPU time of every redis-server on the machine (a benchmark runs its own)."""
    return _named_cpu_seconds("redis-server")


def postgres_cpu_seconds() -> float | None:
    """CPU time of PostgreSQL's processes, when the benchmark runs on it; else None."""
    if not os.environ.get("CLARION_TEST_DATABASE_URL"):
        return None
    return _named_cpu_seconds("postgres")


def machine_cpu_seconds() -> float:
    """CPU time every core spent busy (not idle, not waiting for I/O) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuWatch:
    """How many cores processes other than this benchmark's kept busy since it was made:
    they compete with what is measured on a 2-core machine."""

    def __init__(self) -> None:
        self._at = time.perf_counter()
        self._machine = machine_cpu_seconds()
        self._own = own_cpu_seconds()

    def others(self) -> float:
        elapsed = time.perf_counter() - self._at
        machine = machine_cpu_seconds() - self._machine
        own = own_cpu_seconds() - self._own
        return max(machine - own, 0.0) / elapsed if elapsed > 0 else 0.0
