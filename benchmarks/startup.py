"""Start-up: launch -> first painted window of `flowstudio`, beside PySide6 alone (an empty QMainWindow).

Each run is a fresh process (`benchmarks/anchors/startup_probe.py app|pyside`), timed from just before it is
spawned to the wall-clock time its first frame was painted (see the probe), as a new user would see it: empty
settings (temporary XDG config/data/cache dirs), no flow, the start page. Runs alternate app / PySide6, on a
real X server (Xvfb, no window manager; started once, not timed) and on Qt's offscreen platform.

    python benchmarks/startup.py [--repeats 7] [--platform xvfb|offscreen|both] [--profile]

Goal: the app's first painted window < 0.8 s on a quiet machine. The app fills its node list and template
cards right after that frame (docs/decisions.md 48); the time until they are there is printed too. The ratio app / PySide6 alone is printed
too, because it does not depend as much on how busy the machine is. `--profile` prints where one start of
the app spends its time (cProfile, cumulative) and its slowest imports (-X importtime).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Figure, emit  # noqa: E402

PROBE = Path(__file__).resolve().parent / "anchors" / "startup_probe.py"
GOAL_S = 0.8


def start_xvfb() -> tuple[subprocess.Popen, str] | None:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None
    read, write = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as fh:
        number = fh.readline().strip()
    return proc, f":{number}"


def one_start(kind: str, env: dict[str, str], work: Path) -> tuple[float, float]:
    """Seconds from spawn to the first painted frame, and to the start page filled after it."""
    out = work / "probe.txt"
    out.unlink(missing_ok=True)
    child = {**env, "FLOWSTUDIO_STARTUP_PROBE": str(out)}
    start = time.time()
    proc = subprocess.run([sys.executable, str(PROBE), kind], env=child, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"the {kind} start failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    painted, filled = (float(t) for t in out.read_text(encoding="utf-8").split())
    return painted - start, filled - start


def clean_env(platform: str, display: str | None, home: Path) -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE (set on some CI and sandbox machines) would make every start compile the app's
    # sources again; a user's install keeps its .pyc files, and the first, uncounted start writes them here
    dropped = ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[name] = str(home / name.lower())
    if platform == "offscreen":
        env["QT_QPA_PLATFORM"] = "offscreen"
    else:
        env["DISPLAY"] = display or ""
        env["QT_QPA_PLATFORM"] = "xcb"
    return env


def measure(platform: str, display: str | None, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"app": [], "pyside": [], "app_filled": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = clean_env(platform, display, work / "home")
        one_start("app", env, work)  # first start: .pyc files, font caches; not counted
        one_start("pyside", env, work)
        for _ in range(repeats):
            for kind in ("app", "pyside"):
                painted, filled = one_start(kind, env, work)
                times[kind].append(painted)
                if kind == "app":
                    times["app_filled"].append(filled)
    return times


def profile(env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prof = Path(tmp) / "start.prof"
        env = {**env, "FLOWSTUDIO_STARTUP_PROBE": str(Path(tmp) / "p.txt")}
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), str(PROBE), "app"], env=env, check=True,
                       timeout=120)
        import pstats

        print("\ncProfile of one start (cumulative, top 35):")
        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(35)
        proc = subprocess.run([sys.executable, "-X", "importtime", str(PROBE), "app"], env=env, capture_output=True,
                              text=True, timeout=120)
        rows = []
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                _, cumulative, name = line.split("|")
                if cumulative.strip().isdigit():
                    rows.append((int(cumulative), name.rstrip()))
        print("slowest imports (cumulative ms):")
        for us, name in sorted(rows, reverse=True)[:25]:
            print(f"  {us / 1000:8.1f}  {name}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--platform", choices=["xvfb", "offscreen", "both"], default="both")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    platforms = ["xvfb", "offscreen"] if args.platform == "both" else [args.platform]
    xvfb = start_xvfb() if "xvfb" in platforms else None
    if "xvfb" in platforms and xvfb is None:
        print("Xvfb is not installed (apt-get install xvfb); measuring offscreen only", file=sys.stderr)
        platforms.remove("xvfb")
    figures: list[Figure] = []
    load_before = os.getloadavg()[0]
    try:
        for platform in platforms:
            times = measure(platform, xvfb[1] if xvfb else None, args.repeats)
            app, pyside = statistics.median(times["app"]), statistics.median(times["pyside"])
            print(f"{platform:9} app: median {app:.3f} s, best {min(times['app']):.3f} s; PySide6 alone: median "
                  f"{pyside:.3f} s, best {min(times['pyside']):.3f} s; ratio app / PySide6 {app / pyside:.2f} "
                  f"(app goal < {GOAL_S} s)")
            filled = statistics.median(times["app_filled"])
            print(f"          app runs: {', '.join(f'{t:.3f}' for t in times['app'])}; start page filled "
                  f"(template cards, node list): median {filled:.3f} s")
            figures += [Figure(f"start-up to first painted window ({platform})", app, "s",
                               goal=f"< {GOAL_S} s", met=app < GOAL_S),
                        Figure(f"start-up, app / PySide6 alone ({platform})", app / pyside, "x",
                               anchor="PySide6 alone: an empty QMainWindow, first paint"),
                        Figure(f"start-up to the start page filled: template cards, node list ({platform})",
                               filled, "s")]
        if args.profile:
            profile(clean_env(platforms[0], xvfb[1] if xvfb else None, Path(tempfile.mkdtemp())))
    finally:
        if xvfb is not None:
            xvfb[0].terminate()
            xvfb[0].wait(timeout=10)
    load = f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    print(load)
    emit("startup", figures, notes=f"{args.repeats} alternating runs per side", machine=load)


if __name__ == "__main__":
    main()
