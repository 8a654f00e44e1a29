"""Saving: through a symlink (the link stays, its target is updated) and without piling up the temp
files of saves that were killed, while a save in progress elsewhere keeps its temp file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowstudio.core.document import FlowDocument
from flowstudio.core.flow import load_flow, save_flow
from flowstudio.core.safe_io import DEAD_OWNER_GRACE_S, STALE_TEMP_S, TEMP_MARK, clean_stale_temps
from tests.stubs import make_flow, stub_registry

REPO = Path(__file__).resolve().parents[2]


def small_flow(node_id: str = "a"):
    return make_flow([(node_id, "stub.const", {"value": 1.0})], [])


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ---------------------------------------------------------------------------------------- symlinks


def test_saving_through_a_symlink_keeps_the_link_and_updates_the_target(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "real.flow.json"
    save_flow(small_flow("old"), target)
    project = tmp_path / "project"
    project.mkdir()
    link = project / "my.flow.json"
    link.symlink_to(os.path.relpath(target, project))  # a relative link, as `ln -s ../shared/...` makes

    doc = FlowDocument.open(link, stub_registry())
    doc.flow.nodes[0].id = "new"
    doc.save()

    assert link.is_symlink() and os.readlink(link) == os.path.relpath(target, project)
    assert load_flow(target).nodes[0].id == "new"  # before: the target stayed stale
    assert doc.path == link  # the document still names the file the user opened
    assert temps(shared) == [] and temps(project) == []


def test_saving_through_a_chain_of_links_and_a_dangling_link(tmp_path: Path):
    target = tmp_path / "real.flow.json"
    save_flow(small_flow("one"), target)
    first = tmp_path / "first.flow.json"
    first.symlink_to(target)
    second = tmp_path / "second.flow.json"
    second.symlink_to(first)
    save_flow(small_flow("two"), second)
    assert second.is_symlink() and first.is_symlink()
    assert load_flow(target).nodes[0].id == "two"

    dangling = tmp_path / "dangling.flow.json"
    dangling.symlink_to(tmp_path / "created-by-save.flow.json")
    save_flow(small_flow("three"), dangling)
    assert dangling.is_symlink() and load_flow(tmp_path / "created-by-save.flow.json").nodes[0].id == "three"


def test_a_save_never_replaces_something_that_is_not_a_regular_file(tmp_path: Path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("FIFOs are POSIX")
    fifo = tmp_path / "pipe.flow.json"
    os.mkfifo(fifo)
    link = tmp_path / "link.flow.json"
    link.symlink_to(fifo)
    with pytest.raises(OSError, match="named pipe"):
        save_flow(small_flow(), link)
    assert fifo.exists() and not fifo.is_file() and temps(tmp_path) == []


def test_text_that_is_not_unicode_is_refused_before_any_file_is_touched(tmp_path: Path):
    path = tmp_path / "f.flow.json"
    save_flow(small_flow(), path)
    before = path.read_bytes()
    flow = small_flow()
    flow.name = "bad \ud800"
    with pytest.raises(UnicodeEncodeError):
        save_flow(flow, path)
    assert path.read_bytes() == before and temps(tmp_path) == []


# ------------------------------------------------------------------------------------ temp files

_STUCK_SAVE = r"""
import os, sys, time
from flowstudio.core.flow import save_flow
from tests.stubs import make_flow
os.replace = lambda src, dst: (print("writing", flush=True), time.sleep(600))  # stop just before the rename
flow = make_flow([("a", "stub.const", {"value": 1.0})], [])
flow.description = "x" * 2_000_000
save_flow(flow, sys.argv[1])
"""


def start_stuck_save(path: Path) -> subprocess.Popen[str]:
    """A real save in another process, held between writing its temp file and renaming it."""
    proc = subprocess.Popen([sys.executable, "-c", _STUCK_SAVE, str(path)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    return proc


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_temps_of_killed_saves_are_removed_by_the_next_save(tmp_path: Path):
    path = tmp_path / "f.flow.json"
    save_flow(small_flow(), path)
    killed = []
    for _ in range(3):  # three saves killed with SIGKILL while writing
        proc = start_stuck_save(path)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed = [n for n in temps(tmp_path) if n not in killed] + killed
    assert len(killed) == 3 and all(TEMP_MARK in n for n in killed)  # recognisable names
    assert sum((tmp_path / n).stat().st_size for n in killed) > 5_000_000
    for name in killed:
        age(tmp_path / name, DEAD_OWNER_GRACE_S + 5)
    legacy = tmp_path / ".f.flow.json.k3j2h1x0.tmp"  # left by an older FlowStudio (mkstemp's name)
    legacy.write_text("{}")
    age(legacy, STALE_TEMP_S + 5)
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_text("not ours")
    age(unrelated, 10 * STALE_TEMP_S)

    save_flow(small_flow("b"), path)

    assert temps(tmp_path) == [".notes.tmp"]
    assert load_flow(path).nodes[0].id == "b"


def test_the_temp_of_a_save_in_progress_is_kept(tmp_path: Path):
    path = tmp_path / "f.flow.json"
    save_flow(small_flow(), path)
    proc = start_stuck_save(path)  # alive: its temp file is a save in progress
    try:
        (theirs,) = temps(tmp_path)
        age(tmp_path / theirs, DEAD_OWNER_GRACE_S + 5)  # even when it has been writing for a while
        save_flow(small_flow("b"), path)
        assert temps(tmp_path) == [theirs]
        fresh = tmp_path / f".f.flow.json{TEMP_MARK}otherhost-12345-abcdef.tmp"  # another machine, fresh
        fresh.write_text("{}")
        dead_but_fresh = tmp_path / theirs.replace(f"-{proc.pid}-", "-999999999-")
        dead_but_fresh.write_text("{}")
        assert clean_stale_temps(tmp_path) == []
        assert sorted(temps(tmp_path)) == sorted([theirs, fresh.name, dead_but_fresh.name])
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_old_temps_of_other_machines_are_removed(tmp_path: Path):
    other = tmp_path / f".f.flow.json{TEMP_MARK}otherhost-12345-abcdef.tmp"
    other.write_text("{}")
    age(other, STALE_TEMP_S + 5)
    assert clean_stale_temps(tmp_path) == [other]
