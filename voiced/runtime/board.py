"""What board are we on: core types, big and little cores, dot-product support.

Everything is read below a root folder (normally `/`), so tests point it at captured trees
from real boards. Sources, in order of trust: `cpu_capacity` from sysfs (the scheduler's own
ranking), else the core type from `/proc/cpuinfo`'s `CPU part` plus the cpufreq maximum.
On x86 the recogniser gets one logical CPU per physical core.
"""
from __future__ import annotations

import logging
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

log = logging.getLogger(__name__)

# ARM Ltd (implementer 0x41) part numbers, from the kernel's arch/arm64/include/asm/cputype.h.
CORE_NAMES: Dict[int, str] = {
    0xC07: "Cortex-A7", 0xC0F: "Cortex-A15", 0xD01: "Cortex-A32", 0xD03: "Cortex-A53",
    0xD04: "Cortex-A35", 0xD05: "Cortex-A55", 0xD07: "Cortex-A57", 0xD08: "Cortex-A72",
    0xD09: "Cortex-A73", 0xD0A: "Cortex-A75", 0xD0B: "Cortex-A76", 0xD0C: "Neoverse-N1",
    0xD0D: "Cortex-A77", 0xD41: "Cortex-A78", 0xD44: "Cortex-X1", 0xD46: "Cortex-A510",
    0xD47: "Cortex-A710", 0xD48: "Cortex-X2", 0xD4D: "Cortex-A715", 0xD4E: "Cortex-X3",
    0xD80: "Cortex-A520", 0xD81: "Cortex-A720", 0xD82: "Cortex-X4",
}
# In-order "LITTLE" designs: slower per clock than any out-of-order core above.
IN_ORDER_PARTS = frozenset({0xC07, 0xD01, 0xD03, 0xD04, 0xD05, 0xD46, 0xD80})


@dataclass(frozen=True)
class Core:
    """One logical CPU."""

    id: int
    part: Optional[int] = None
    """ARM `CPU part` number, None on x86 or when cpuinfo does not list this CPU"""
    name: str = "unknown"
    capacity: Optional[int] = None
    """sysfs cpu_capacity (1024 is the fastest core), None when the kernel does not expose it"""
    max_freq_khz: Optional[int] = None
    """cpufreq cpuinfo_max_freq in kHz, None without cpufreq"""


@dataclass(frozen=True)
class Board:
    name: str
    arch: str
    """platform.machine() style: aarch64, armv7l, x86_64"""
    cores: Tuple[Core, ...]
    big: Tuple[int, ...]
    """CPU ids the recogniser should use (the fastest cores; one per physical core on x86)"""
    little: Tuple[int, ...]
    """the remaining CPU ids (slower cores, or SMT siblings on x86)"""
    has_dotprod: bool
    """ARM asimddp (or x86 VNNI): onnxruntime has faster int8 kernels"""

    @property
    def is_arm(self) -> bool:
        return self.arch.startswith(("aarch64", "arm"))

    @property
    def little_is_spare(self) -> bool:
        """A big.LITTLE board: the little cluster can run audio and the VAD."""
        return self.is_arm and bool(self.little)

    def core_summary(self) -> str:
        """'4x Cortex-A55 @ 1800 MHz (0-3) + 4x Cortex-A76 @ 2400 MHz (4-7)'."""
        groups: Dict[Tuple[str, Optional[int]], List[int]] = {}
        for core in self.cores:
            groups.setdefault((core.name, core.max_freq_khz), []).append(core.id)
        parts = []
        for (name, freq), ids in groups.items():
            clock = f" @ {freq // 1000} MHz" if freq else ""
            parts.append(f"{len(ids)}x {name}{clock} ({format_cpu_list(ids)})")
        return " + ".join(parts)


def detect_board(root: Path = Path("/"), machine: Optional[str] = None) -> Board:
    """Read the board description below `root`. `machine` defaults to platform.machine()."""
    root = Path(root)
    blocks, extra = _parse_cpuinfo(_read(root / "proc/cpuinfo") or "")
    if machine is None:
        # A captured tree describes another machine: take the architecture from its cpuinfo.
        machine = platform.machine() if root == Path("/") else _arch_from_cpuinfo(blocks) or platform.machine()
    arch = _normal_arch(machine)
    ids = _cpu_ids(root, blocks)
    features = set()
    for block in blocks.values():
        features.update((block.get("Features") or block.get("flags") or "").split())
    if arch.startswith(("x86", "i686", "amd64")):
        cores = tuple(Core(i, None, blocks.get(i, {}).get("model name", "x86"), _capacity(root, i),
                           _max_freq(root, i)) for i in ids)
        big, little = _x86_split(ids, blocks)
        dotprod = bool(features & {"avx_vnni", "avx512_vnni"})
    else:
        cores = tuple(_arm_core(root, i, blocks) for i in ids)
        big, little = _arm_split(cores)
        dotprod = "asimddp" in features
    name = _board_name(root, blocks, extra)
    board = Board(name, arch, cores, big, little, dotprod)
    log.debug("detected %s", board)
    return board


def format_cpu_list(ids) -> str:
    """[0, 1, 2, 3, 6] -> '0-3,6' (the kernel's own notation)."""
    ids = sorted(ids)
    if not ids:
        return "-"
    out, start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(out)


def parse_cpu_list(text: str) -> List[int]:
    """'0-3,6' -> [0, 1, 2, 3, 6]."""
    ids: List[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        ids.extend(range(int(lo), int(hi or lo) + 1))
    return ids


# --- reading ----------------------------------------------------------------------------

def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _read_int(path: Path) -> Optional[int]:
    text = _read(path)
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def _parse_cpuinfo(text: str) -> Tuple[Dict[int, Dict[str, str]], Dict[str, str]]:
    """Split cpuinfo into per-processor blocks and the board lines after them (Model, Hardware)."""
    blocks: Dict[int, Dict[str, str]] = {}
    extra: Dict[str, str] = {}
    current: Optional[Dict[str, str]] = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            current = None if not line.strip() else current
            continue
        key, value = key.strip(), value.strip()
        if key == "processor" and value.isdigit():
            current = blocks.setdefault(int(value), {})
        elif current is not None:
            current[key] = value
        else:
            extra[key] = value
    return blocks, extra


def _cpu_ids(root: Path, blocks: Dict[int, Dict[str, str]]) -> List[int]:
    online = _read(root / "sys/devices/system/cpu/online")
    if online and online.strip():
        try:
            return parse_cpu_list(online)
        except ValueError:
            log.warning("cannot parse %s", root / "sys/devices/system/cpu/online")
    if blocks:
        return sorted(blocks)
    return list(range(os.cpu_count() or 1))


def _capacity(root: Path, cpu: int) -> Optional[int]:
    return _read_int(root / f"sys/devices/system/cpu/cpu{cpu}/cpu_capacity")


def _max_freq(root: Path, cpu: int) -> Optional[int]:
    return _read_int(root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq")


def _arm_core(root: Path, cpu: int, blocks: Dict[int, Dict[str, str]]) -> Core:
    part = _part(blocks.get(cpu, {}))
    if part is None:
        # Some dumps (and 32-bit kernels behind a hypervisor) list fewer CPUs than are online;
        # when every listed CPU is the same type, the missing ones are that type too.
        parts = {_part(b) for b in blocks.values()} - {None}
        part = parts.pop() if len(parts) == 1 else None
    name = CORE_NAMES.get(part, f"part 0x{part:03x}") if part is not None else "unknown"
    return Core(cpu, part, name, _capacity(root, cpu), _max_freq(root, cpu))


def _part(block: Dict[str, str]) -> Optional[int]:
    try:
        return int(block["CPU part"], 16)
    except (KeyError, ValueError):
        return None


def _arm_split(cores: Tuple[Core, ...]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Big cores: the highest cpu_capacity; without it, out-of-order before in-order, then clock."""
    capacities = [c.capacity for c in cores]
    if all(c is not None for c in capacities) and len(set(capacities)) > 1:
        top = max(capacities)
        return (tuple(c.id for c in cores if c.capacity == top),
                tuple(c.id for c in cores if c.capacity != top))

    def rank(core: Core) -> Tuple[int, int]:
        out_of_order = core.part is not None and core.part not in IN_ORDER_PARTS
        return (1 if out_of_order else 0, core.max_freq_khz or 0)

    top_rank = max(rank(c) for c in cores)
    return (tuple(c.id for c in cores if rank(c) == top_rank),
            tuple(c.id for c in cores if rank(c) != top_rank))


def _x86_split(ids: List[int], blocks: Dict[int, Dict[str, str]]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """One logical CPU per (physical id, core id); SMT siblings go to `little`."""
    seen: Dict[Tuple[str, str], int] = {}
    big, little = [], []
    for cpu in ids:
        block = blocks.get(cpu, {})
        key = (block.get("physical id", "0"), block.get("core id", str(cpu)))
        if key in seen:
            little.append(cpu)
        else:
            seen[key] = cpu
            big.append(cpu)
    return tuple(big), tuple(little)


def _board_name(root: Path, blocks: Dict[int, Dict[str, str]], extra: Dict[str, str]) -> str:
    for path in (root / "proc/device-tree/model", root / "sys/firmware/devicetree/base/model"):
        text = _read(path)
        if text and text.strip("\0\n "):
            return text.strip("\0\n ")
    if extra.get("Model"):
        return extra["Model"]
    for block in blocks.values():
        if block.get("model name"):
            return block["model name"]
    return "unknown board"


def _arch_from_cpuinfo(blocks: Dict[int, Dict[str, str]]) -> Optional[str]:
    for block in blocks.values():
        if "vendor_id" in block:
            return "x86_64"
        if "CPU implementer" in block:
            # 32-bit kernels report architecture 7 and ARMv7 feature names even on A53 cores.
            return "aarch64" if block.get("CPU architecture") == "8" else "armv7l"
    return None


def _normal_arch(machine: str) -> str:
    machine = machine.lower()
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine) or "unknown"


_VERSION = re.compile(r"(\d+)\.(\d+)")


def version_tuple(version: str) -> Tuple[int, int]:
    found = _VERSION.match(version or "")
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)
