"""A damaged cache entry is never served: it is removed, the node runs again and says why.

Faults are injected into the real store written by the real Engine over the stub nodes: a truncated file, a
deleted file, an added file, an edited entry.json, bytes changed behind forged time stamps (caught by the
scheduled full check and by `flowstudio cache verify`), and a damaged entry under a resumed run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from flowstudio.engine import ArtifactStore, Engine, RunResult
from flowstudio.engine.cache import _write_record
from tests.engine.helpers import cached, of_kind, ran
from tests.stubs import make_flow


def flow() -> Any:
    # m (a "model" directory) -> t (trains it, reports a loss metric); m and t run in worker processes
    return make_flow([("m", "stub.model", {"size": 3}), ("t", "stub.train", {"steps": 2})], [("m.model", "t.model")])


def entry_dir(result: RunResult, node: str) -> Path:
    return Path(result.summary["nodes"][node]["outputs"]["model"]["path"]).parents[1]


def weights(result: RunResult) -> Path:
    return Path(result.summary["nodes"]["m"]["outputs"]["model"]["path"]) / "weights.json"


def damage_reports(result: RunResult, node: str) -> list[str]:
    return [e.line for e in of_kind(result.events, "node_log") if e.node == node and "is damaged" in e.line]


def assert_rebuilt(result: RunResult, node: str, why: str) -> None:
    """`node` ran again (not cached), the event stream and the node's log say why, the run succeeded."""
    assert result.ok, result.summary
    assert node in ran(result.events) and node not in cached(result.events)
    assert result.summary["nodes"][node]["status"] == "done"
    reports = damage_reports(result, node)
    assert len(reports) == 1 and why in reports[0], reports
    log = (result.run_dir / "nodes" / node / "log.txt").read_text()
    assert "is damaged" in log and why in log


def writable(path: Path) -> Path:
    """Stored files are read-only; a fault injector (or a careless tool) makes them writable first."""
    os.chmod(path, 0o644)
    return path


def test_an_intact_entry_is_served_from_the_cache(engine: Engine, store: ArtifactStore, run_opts) -> None:
    first = engine.run(flow(), options=run_opts())
    assert first.ok and ran(first.events) == {"m", "t"}
    assert weights(first).stat().st_mode & 0o222 == 0, "stored files are read-only"
    again = engine.run(flow(), options=run_opts())
    assert cached(again.events) == {"m", "t"} and not ran(again.events)
    assert not damage_reports(again, "m") and not damage_reports(again, "t")


def test_a_truncated_file_is_rebuilt(engine: Engine, run_opts) -> None:
    first = engine.run(flow(), options=run_opts())
    path = weights(first)
    good = path.read_text()
    with writable(path).open("r+b") as fh:
        fh.truncate(10)
    again = engine.run(flow(), options=run_opts())
    assert_rebuilt(again, "m", "files/model/weights.json has 10 bytes")
    assert cached(again.events) == {"t"}  # keyed by m's key, not by its bytes: t's entry is intact
    assert json.loads(weights(again).read_text())["weights"] == json.loads(good)["weights"]
    third = engine.run(flow(), options=run_opts())
    assert cached(third.events) == {"m", "t"}


def test_a_deleted_file_is_rebuilt(engine: Engine, run_opts) -> None:
    first = engine.run(flow(), options=run_opts())
    weights(first).unlink()
    again = engine.run(flow(), options=run_opts())
    assert_rebuilt(again, "m", "files/model/weights.json is missing")
    assert weights(again).is_file()


def test_an_added_file_is_rebuilt(engine: Engine, run_opts) -> None:
    first = engine.run(flow(), options=run_opts())
    (weights(first).parent / "adapter_config.json").write_text("{}")  # would change how the model loads
    again = engine.run(flow(), options=run_opts())
    assert_rebuilt(again, "m", "files/model/adapter_config.json was added")
    assert not (weights(again).parent / "adapter_config.json").exists()


def test_an_edited_metric_in_entry_json_is_rebuilt(engine: Engine, run_opts) -> None:
    first = engine.run(flow(), options=run_opts())
    assert first.summary["nodes"]["t"]["metrics"]["loss"] == 0.5
    record_path = entry_dir(first, "t") / "entry.json"
    record = json.loads(record_path.read_text())
    record["metrics"]["loss"] = 0.001
    record_path.write_text(json.dumps(record))
    again = engine.run(flow(), options=run_opts())
    assert_rebuilt(again, "t", "entry.json was changed after it was stored")
    assert again.summary["nodes"]["t"]["metrics"]["loss"] == 0.5
    assert json.loads(record_path.read_text())["metrics"]["loss"] == 0.5


def test_bytes_changed_behind_forged_stamps_are_found_by_the_scheduled_full_check(
        engine: Engine, store: ArtifactStore, run_opts) -> None:
    """Same size, and a record rewritten to the new time stamps (as bit rot would leave it): only a full
    reread sees it. It runs when the last full check is older than `full_verify_after_s`."""
    first = engine.run(flow(), options=run_opts())
    path = weights(first)
    text = path.read_text()
    writable(path).write_text(text.replace('"weights": [0.0', '"weights": [9.0'))
    record_path = entry_dir(first, "m") / "entry.json"
    record = json.loads(record_path.read_text())
    st = path.stat()
    record["files"]["model/weights.json"][2:] = [st.st_mtime_ns, st.st_ctime_ns]
    _write_record(record_path.parent, record)  # a consistent record: the cheap check cannot tell
    assert cached(engine.run(flow(), options=run_opts()).events) == {"m", "t"}
    record = json.loads(record_path.read_text())
    record["verified"] = time.time() - store.full_verify_after_s - 60
    _write_record(record_path.parent, record)
    again = engine.run(flow(), options=run_opts())
    assert_rebuilt(again, "m", "files/model/weights.json holds other bytes than were stored")
    assert json.loads(weights(again).read_text())["weights"] == [0.0] * 3


def test_cache_verify_rereads_every_byte_and_removes_damaged_entries(engine: Engine, store: ArtifactStore,
                                                                      run_opts, capsys) -> None:
    from flowstudio.cli.cache import verify

    first = engine.run(flow(), options=run_opts())
    assert verify(store, full=True, as_json=False) == 0
    assert "checked 2 entries" in capsys.readouterr().out
    path = weights(first)
    original = path.read_bytes()
    stamps = path.stat()
    writable(path).write_bytes(original.replace(b"0.0", b"1.0", 1))
    record_path = entry_dir(first, "m") / "entry.json"
    record = json.loads(record_path.read_text())
    record["files"]["model/weights.json"][2:] = [path.stat().st_mtime_ns, path.stat().st_ctime_ns]
    _write_record(record_path.parent, record)
    assert stamps.st_size == path.stat().st_size
    assert verify(store, full=False, as_json=False) == 0, "the quick check trusts consistent stamps"
    capsys.readouterr()
    assert verify(store, full=True, as_json=True) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] == 2 and [r["node_type"] for r in report["removed"]] == ["stub.model"]
    assert "holds other bytes" in report["removed"][0]["problem"]
    assert not record_path.exists()
    assert ran(engine.run(flow(), options=run_opts()).events) == {"m"}


def test_a_damaged_entry_under_a_resumed_run_is_rebuilt(engine: Engine, run_opts, tmp_path: Path) -> None:
    """Resume serves finished nodes from the run dir's results, which point into the store: checked too."""
    broken = make_flow([("m", "stub.model", {"size": 3}), ("f", "stub.fail", {"mode": "node_error"})],
                       [("m.model", "f.value")])
    first = engine.run(broken, options=run_opts(run_dir=tmp_path / "run"))
    assert first.summary["nodes"]["f"]["status"] == "failed"
    with writable(weights(first)).open("r+b") as fh:
        fh.truncate(3)
    resumed = engine.resume(first.run_dir)
    assert "m" in ran(resumed.events)
    assert damage_reports(resumed, "m") and "has 3 bytes" in damage_reports(resumed, "m")[0]
    assert json.loads(weights(resumed).read_text())["weights"] == [0.0] * 3


def test_cache_info_counts_what_is_on_disk(engine: Engine, store: ArtifactStore, run_opts) -> None:
    first = engine.run(flow(), options=run_opts())
    before = store.info()
    real = sum(f.stat().st_size for f in (store.root / "entries").rglob("*") if f.is_file())
    assert before["bytes"] == real and before["entries"] == 2
    # a stray file (what `datasets` used to write beside its inputs) counts, though the entry is now damaged
    (weights(first).parent / "cache-0123.arrow").write_bytes(b"x" * 5000)
    assert store.info()["bytes"] == real + 5000


def test_a_link_to_a_file_that_is_gone_is_rebuilt(store: ArtifactStore, tmp_path: Path) -> None:
    """A node may link big files from an input (model weights) instead of copying them; the entry is only
    whole while what it links to is there."""
    source = tmp_path / "input-model.safetensors"
    source.write_bytes(b"w" * 100)
    work = tmp_path / "work"
    work.mkdir()
    (work / "model.safetensors").symlink_to(source)
    key = "ab" * 32
    store.put(key, "test.link", {"n": 1}, {}, work)
    assert store.get(key) is not None
    source.unlink()
    entry, problem = store.lookup(key)
    assert entry is None and problem == f"files/model.safetensors links to {source}, which is gone"
    assert not (store.root / "entries" / key[:2] / key).exists()


def test_the_cache_cli_counts_real_bytes_and_verify_removes_what_is_damaged(tmp_path: Path) -> None:
    import subprocess
    import sys

    home = tmp_path / "home"
    store = ArtifactStore(home / "cache")
    for i, blob in enumerate((b"a" * 3000, b"b" * 4000)):
        work = tmp_path / f"work{i}"
        (work / "model").mkdir(parents=True)
        (work / "model" / "weights.bin").write_bytes(blob)
        store.put(str(i) * 64, "test.blob", {}, {}, work)
    stray = home / "cache" / "entries" / "11" / ("1" * 64) / "files" / "model" / "cache-00.arrow"
    stray.write_bytes(b"x" * 50_000)  # written into an entry after it was stored

    def flowstudio(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flowstudio", "cache", *args], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "FLOWSTUDIO_HOME": str(home)})

    info = flowstudio("info", "--json")
    assert info.returncode == 0, info.stderr
    report = json.loads(info.stdout)
    assert report["entries"] == 2 and report["by_type"]["test.blob"]["bytes"] > 57_000
    checked = flowstudio("verify")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "checked 2 entries" in checked.stdout and "1 damaged" in checked.stdout
    assert "files/model/cache-00.arrow was added after it was stored" in checked.stdout
    assert json.loads(flowstudio("info", "--json").stdout)["entries"] == 1
    assert flowstudio("verify").returncode == 0


def test_resuming_after_a_failure_rereads_every_byte_of_what_the_failed_node_read(engine: Engine, run_opts,
                                                                                    tmp_path: Path) -> None:
    """A downstream load failed: on resume the entries it read get the full check, so damage the quick check
    cannot see (same size, consistent stamps) is found and rebuilt."""
    broken = make_flow([("m", "stub.model", {"size": 3}), ("f", "stub.fail", {"mode": "node_error"})],
                       [("m.model", "f.value")])
    first = engine.run(broken, options=run_opts(run_dir=tmp_path / "run"))
    path = weights(first)
    writable(path).write_text(path.read_text().replace('"weights": [0.0', '"weights": [7.0'))
    record_path = entry_dir(first, "m") / "entry.json"
    record = json.loads(record_path.read_text())
    record["files"]["model/weights.json"][2:] = [path.stat().st_mtime_ns, path.stat().st_ctime_ns]
    _write_record(record_path.parent, record)
    assert cached(engine.run(broken, options=run_opts()).events) == {"m"}, "a fresh run sees nothing wrong"
    resumed = engine.resume(first.run_dir)
    assert "m" in ran(resumed.events)
    assert "holds other bytes than were stored" in damage_reports(resumed, "m")[0]
    assert json.loads(weights(resumed).read_text())["weights"] == [0.0] * 3
