"""A run directory received from someone else cannot lead FlowStudio's deletes out of it through a symlink."""

from __future__ import annotations

from pathlib import Path

from flowstudio.engine import Engine
from tests.stubs import make_flow


def test_a_node_dir_symlinked_elsewhere_is_unlinked_not_followed(engine: Engine, run_opts, tmp_path: Path) -> None:
    first = engine.run(make_flow([("c", "stub.const", {"value": 2.0})], []), options=run_opts())
    assert first.ok
    victim = tmp_path / "precious"
    (victim / "work").mkdir(parents=True)
    (victim / "work" / "thesis.tex").write_text("years of work")
    (victim / "scratch").mkdir()
    (victim / "scratch" / "notes.txt").write_text("keep")
    node_dir = first.run_dir / "nodes" / "c"
    for child in sorted(node_dir.rglob("*"), reverse=True):
        child.unlink() if child.is_file() or child.is_symlink() else child.rmdir()
    node_dir.rmdir()
    node_dir.symlink_to(victim, target_is_directory=True)  # the hostile run dir
    (first.run_dir / "nodes" / "c" / "result.json").unlink(missing_ok=True)
    from flowstudio.engine import RunOptions

    again = engine.resume(first.run_dir, options=RunOptions(use_cache=False))
    assert again.ok
    assert (victim / "work" / "thesis.tex").read_text() == "years of work"
    assert (victim / "scratch" / "notes.txt").read_text() == "keep"
    assert not node_dir.is_symlink() and node_dir.is_dir()
