"""Board detection on captured /proc and /sys trees from real boards (see fixtures/boards/SOURCES.md)."""
from __future__ import annotations

import pytest

from voiced.runtime.board import detect_board, format_cpu_list, parse_cpu_list

BOARDS = {
    # folder: (machine, name, core names in CPU order, big, little, dot-product, max MHz of cpu0)
    "pi-zero-2w": ("armv7l", "Raspberry Pi Zero 2 W Rev 1.0", ["Cortex-A53"] * 4, (0, 1, 2, 3), (), False, 1000),
    "pi3": ("aarch64", "Raspberry Pi 3 Model B Rev 1.2", ["Cortex-A53"] * 4, (0, 1, 2, 3), (), False, 1200),
    "pi4": ("aarch64", "Raspberry Pi 4 Model B Rev 1.4", ["Cortex-A72"] * 4, (0, 1, 2, 3), (), False, 1500),
    "pi5": ("aarch64", "Raspberry Pi 5 Model B Rev 1.0", ["Cortex-A76"] * 4, (0, 1, 2, 3), (), True, 2400),
    "rk3588-rock5b": ("aarch64", "Radxa ROCK 5B", ["Cortex-A55"] * 4 + ["Cortex-A76"] * 4,
                      (4, 5, 6, 7), (0, 1, 2, 3), True, 1800),
}


@pytest.mark.parametrize("folder", sorted(BOARDS))
def test_arm_boards(fixtures_dir, folder):
    machine, name, cores, big, little, dotprod, mhz = BOARDS[folder]
    board = detect_board(fixtures_dir / "boards" / folder, machine=machine)
    assert board.name == name
    assert board.arch == machine
    assert [c.name for c in board.cores] == cores
    assert board.big == big and board.little == little
    assert board.has_dotprod is dotprod
    assert board.cores[0].max_freq_khz == mhz * 1000
    assert board.is_arm


def test_zero_2w_fills_cpus_missing_from_a_partial_cpuinfo(fixtures_dir):
    # The capture lists only processor 3; sysfs says 0-3 are online.
    root = fixtures_dir / "boards" / "pi-zero-2w"
    assert "processor       : 0" not in (root / "proc/cpuinfo").read_text()
    board = detect_board(root, machine="armv7l")
    assert [c.id for c in board.cores] == [0, 1, 2, 3]
    assert {c.part for c in board.cores} == {0xD03}


def test_rk3588_big_cores_are_the_a76_cluster_and_summary_names_both(fixtures_dir):
    board = detect_board(fixtures_dir / "boards" / "rk3588-rock5b", machine="aarch64")
    assert board.little_is_spare
    assert board.core_summary() == "4x Cortex-A55 @ 1800 MHz (0-3) + 4x Cortex-A76 @ 2400 MHz (4-7)"


def test_cpu_capacity_wins_over_core_type(fixtures_dir, tmp_path):
    # Same captured Pi 4 tree, plus a cpu_capacity ranking that marks CPUs 2-3 as faster.
    import shutil

    root = tmp_path / "pi4"
    shutil.copytree(fixtures_dir / "boards" / "pi4", root)
    for cpu, cap in enumerate([512, 512, 1024, 1024]):
        (root / f"sys/devices/system/cpu/cpu{cpu}/cpu_capacity").write_text(f"{cap}\n")
    board = detect_board(root, machine="aarch64")
    assert board.big == (2, 3) and board.little == (0, 1)
    assert [c.capacity for c in board.cores] == [512, 512, 1024, 1024]


def test_x86_uses_physical_cores(fixtures_dir):
    board = detect_board(fixtures_dir / "boards" / "x86-epyc-vm", machine="x86_64")
    assert board.name == "AMD EPYC"
    assert board.big == (0, 1) and board.little == ()
    assert not board.is_arm


def test_x86_smt_siblings_are_not_big(fixtures_dir, tmp_path):
    # The captured VM block twice with one core id: two logical CPUs on one physical core.
    text = (fixtures_dir / "boards" / "x86-epyc-vm" / "proc/cpuinfo").read_text()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    smt = "\n\n".join(b.replace("core id\t\t: 1", "core id\t\t: 0") for b in blocks) + "\n"
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(smt)
    board = detect_board(tmp_path, machine="x86_64")
    assert board.big == (0,) and board.little == (1,)


def test_missing_tree_still_gives_a_board(tmp_path):
    board = detect_board(tmp_path, machine="aarch64")
    assert board.name == "unknown board"
    assert len(board.cores) >= 1 and board.big


def test_cpu_list_round_trip():
    assert parse_cpu_list("0-3,6,8-9\n") == [0, 1, 2, 3, 6, 8, 9]
    assert format_cpu_list([9, 8, 6, 0, 1, 2, 3]) == "0-3,6,8-9"
    assert format_cpu_list([]) == "-"


def test_this_machine():
    board = detect_board()
    assert board.cores and set(board.big) <= {c.id for c in board.cores}
