"""Running flows from the app: the engine behind Run / Run to Selected / Stop and what a run shows.

`seam` is the window's Run / Stop switch and the `Runner` protocol; `presenter` is the runner the
window attaches: it validates, asks before running code from the flow file and turns the engine's
events (delivered by `bridge`, which runs the engine off the GUI thread) into canvas badges, status
messages and the Run `panel` with its `metrics_plot`. The window is seen only through the protocols
in `host`, so nothing here imports the window package.
"""
