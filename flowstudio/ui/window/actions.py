"""The window's actions, menus and toolbar, declared as one table.

Shortcuts use `QKeySequence.StandardKey` where the platform has one. Canvas actions (copy, delete,
select all, ...) are scoped to the canvas so that Ctrl+C or Delete in an inspector field edits the
text, not the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QSizePolicy, QToolBar, QWidget

from .. import theme
from .host import WindowHost

SK = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    key: str
    text: str
    slot: str  # a MainWindow method name, or "<attribute>.<method>" (the canvas view's, the run seam's)
    icon: str | None = None
    shortcut: tuple[SK | str, ...] = ()
    tip: str = ""
    canvas: bool = False  # only while the canvas has focus
    enabled: bool = True


SPECS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("new", "&New Flow", "new_flow", "mdi6.file-plus-outline", (SK.New,), "Start an empty flow"),
    ActionSpec("new_template", "New from &Template…", "new_from_template", "mdi6.view-grid-plus-outline",
               ("Ctrl+Shift+N",), "Start a new flow from a template"),
    ActionSpec("open", "&Open…", "open_flow", "mdi6.folder-open-outline", (SK.Open,), "Open a flow file"),
    ActionSpec("save", "&Save", "save", "mdi6.content-save-outline", (SK.Save,), "Save the flow"),
    ActionSpec("save_as", "Save &As…", "save_as", "mdi6.content-save-edit-outline", (SK.SaveAs, "Ctrl+Shift+S"),
               "Save the flow under a new name"),
    ActionSpec("revert", "&Revert to Saved", "revert", "mdi6.file-restore-outline", (),
               "Drop the unsaved changes and reload the file"),
    ActionSpec("export", "&Export…", "show_export_dialog", "mdi6.export-variant", ("Ctrl+E",),
               "Export the flow to a standalone Python script (python, accelerate launch, sbatch)"),
    ActionSpec("preview_script", "Preview &Script", "show_script_preview", "mdi6.language-python", (),
               "Show the flow (or the selected node) as the script it exports to"),
    ActionSpec("close_flow", "&Close Flow", "close_flow", None, (SK.Close,), "Close the flow and show the start page"),
    ActionSpec("quit", "&Quit", "close", "mdi6.exit-to-app", (SK.Quit, "Ctrl+Q"), "Quit FlowStudio"),
    # Edit
    ActionSpec("cut", "Cu&t", "canvas.cut", "mdi6.content-cut", (SK.Cut,), canvas=True),
    ActionSpec("copy", "&Copy", "canvas.copy", "mdi6.content-copy", (SK.Copy,), canvas=True),
    ActionSpec("paste", "&Paste", "canvas.paste", "mdi6.content-paste", (SK.Paste,), canvas=True),
    ActionSpec("paste_connected", "Paste with C&onnections", "paste_with_connections", "mdi6.content-paste",
               ("Ctrl+Shift+V",), "Paste, keeping the connections into the pasted nodes from nodes outside the "
               "copied selection", canvas=True),
    ActionSpec("duplicate", "D&uplicate", "canvas.duplicate", "mdi6.content-duplicate", ("Ctrl+D",), canvas=True),
    ActionSpec("delete", "&Delete", "canvas.delete_selected", "mdi6.delete-outline", (SK.Delete, "Backspace"), canvas=True),
    ActionSpec("select_all", "Select &All", "canvas.select_all", None, (SK.SelectAll,), canvas=True),
    ActionSpec("quick_add", "&Add Node…", "quick_add", "mdi6.plus-box-outline", ("Tab",),
               "Search for a node and add it at the cursor (Tab on the canvas)", canvas=True),
    ActionSpec("group", "&Frame Selection in a Comment", "canvas.add_group_around_selection", "mdi6.select-group", ("Ctrl+G",), canvas=True),
    ActionSpec("rename", "&Rename Node", "rename_node", None, ("F2",), "Edit the selected node's title"),
    ActionSpec("bypass", "&Bypass Node", "toggle_bypass", "mdi6.debug-step-over", ("Ctrl+B",),
               "Switch the selected nodes off for runs (their inputs pass through); again to switch back",
               canvas=True),
    ActionSpec("find_node", "Find in &Palette", "focus_palette", "mdi6.magnify", (SK.Find,)),
    # View
    ActionSpec("frame_all", "Frame &All", "canvas.frame_all", "mdi6.fit-to-screen-outline", ("Home",), "Show the whole flow"),
    ActionSpec("frame_selection", "Frame &Selection", "canvas.frame_selection", "mdi6.image-filter-center-focus",
               ("F",), canvas=True),
    ActionSpec("zoom_in", "Zoom &In", "canvas.zoom_in", "mdi6.magnify-plus-outline", (SK.ZoomIn, "Ctrl+="), canvas=True),
    ActionSpec("zoom_out", "Zoom &Out", "canvas.zoom_out", "mdi6.magnify-minus-outline", (SK.ZoomOut,), canvas=True),
    ActionSpec("reset_zoom", "&Actual Size", "canvas.reset_zoom", None, ("Ctrl+0",), canvas=True),
    ActionSpec("auto_layout", "Auto &Layout", "canvas.auto_layout", "mdi6.sitemap-outline", ("Ctrl+L",),
               "Arrange the nodes left to right by their connections"),
    ActionSpec("reset_layout", "&Reset Panel Layout", "reset_layout", "mdi6.view-dashboard-outline", (),
               "Put every panel back where it started"),
    ActionSpec("full_screen", "&Full Screen", "toggle_full_screen", "mdi6.fullscreen", (SK.FullScreen, "F11")),
    # Run (wired to the engine in a later issue; see MainWindow.attach_runner)
    ActionSpec("run", "&Run Flow", "run_seam.run_flow", "mdi6.play", ("F5", "Ctrl+Return"), "Run the flow", enabled=False),
    ActionSpec("run_selected", "Run to &Selected Node", "run_seam.run_selected", "mdi6.play-outline", ("Shift+F5",),
               "Run the selected node and what it needs", enabled=False),
    ActionSpec("stop", "S&top", "run_seam.stop", "mdi6.stop", ("Ctrl+.",), "Stop the running flow", enabled=False),
    ActionSpec("resume", "Res&ume", "run_seam.resume", "mdi6.play-pause", ("F6",),
               "Continue the stopped run from its checkpoints", enabled=False),
    ActionSpec("validate", "&Check Flow", "validate_now", "mdi6.check-decagram-outline", ("F7",),
               "Validate the flow now and show the problems"),
    ActionSpec("playground", "Chat &Playground", "playground.show", "mdi6.chat-processing-outline", ("F8",),
               "Chat with a model (a built-in, one on disk, or one a run produced); two side by side"),
    ActionSpec("run_history", "Run &History", "run_history.show", "mdi6.chart-timeline-variant", ("Ctrl+Shift+H",),
               "Every past run of this flow: reopen, overlay curves, diff snapshots, re-run or fork"),
    ActionSpec("serve", "S&erve…", "show_serve_dialog", "mdi6.server-network", (),
               "Serve this flow or a model on a local OpenAI-compatible endpoint"),
    # Help
    ActionSpec("find_action", "&Find Action…", "show_action_search", "mdi6.console-line", ("Ctrl+Shift+P", "F3"),
               "Search every command by name"),
    ActionSpec("shortcuts", "&Keyboard Shortcuts", "show_shortcuts", "mdi6.keyboard-outline", (SK.HelpContents, "F1")),
    ActionSpec("about", "&About FlowStudio", "show_about", "mdi6.information-outline"),
)

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("new", "new_template", "open", "@recent", "-", "save", "save_as", "revert", "-", "export", "preview_script", "-", "close_flow", "-", "quit")),
    ("&Edit", ("@undo", "@redo", "-", "cut", "copy", "paste", "paste_connected", "duplicate", "delete", "-", "select_all", "-",
               "quick_add", "group", "rename", "bypass", "find_node")),
    ("&View", ("@docks", "reset_layout", "-", "frame_all", "frame_selection", "zoom_in", "zoom_out", "reset_zoom", "-",
               "auto_layout", "-", "run_history", "-", "@theme", "full_screen")),
    ("&Run", ("run", "run_selected", "stop", "resume", "-", "validate", "-", "playground", "serve")),
    ("&Help", ("find_action", "shortcuts", "-", "about")),
)

TOOLBAR = ("new", "open", "save", "-", "@undo", "@redo", "-", "quick_add", "auto_layout", "frame_all", "-",
           "run", "stop", "resume", "validate", "@spacer", "@theme_toggle")


def _slot(window: WindowHost, name: str):  # noqa: ANN202 - a zero-argument callable
    if "." in name:
        owner, method = name.split(".", 1)
        return lambda _checked=False: getattr(getattr(window, owner), method)()
    return lambda _checked=False: getattr(window, name)()


def _explicit_keys() -> set[str]:
    """Keys the table names as text: they belong to their action only (a platform's standard bindings can
    repeat them, as X11's Delete binding Ctrl+D, which is Duplicate here)."""
    return {QKeySequence(k).toString() for spec in SPECS for k in spec.shortcut if isinstance(k, str)}


def _key_sequences(keys: tuple[SK | str, ...], taken: frozenset[str] | set[str] = frozenset()) -> list[QKeySequence]:
    """Every platform binding of the standard keys (less those other actions name in `taken`), then the
    extras, without duplicates."""
    out: list[QKeySequence] = []
    for key in keys:
        if isinstance(key, SK):
            seqs = [s for s in QKeySequence.keyBindings(key) if s.toString() not in taken]
        else:
            seqs = [QKeySequence(key)]
        for seq in seqs:
            if not seq.isEmpty() and seq not in out:
                out.append(seq)
    return out


def build_actions(window: WindowHost) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}
    explicit = _explicit_keys()
    for spec in SPECS:
        action = QAction(spec.text, window)
        action.setObjectName(f"action_{spec.key}")
        if spec.shortcut:
            own = {QKeySequence(k).toString() for k in spec.shortcut if isinstance(k, str)}
            action.setShortcuts(_key_sequences(spec.shortcut, explicit - own))
        tip = spec.tip or spec.text.replace("&", "").rstrip("…")
        if action.shortcut().toString():
            tip += f"  ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        action.setStatusTip(spec.tip)
        action.setEnabled(spec.enabled)
        action.setData(spec.icon)
        if spec.canvas:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(_slot(window, spec.slot))
        actions[spec.key] = action
    stack = window.controller.undo_stack
    undo = stack.createUndoAction(window, "&Undo")
    undo.setShortcuts(_key_sequences((SK.Undo,), explicit))
    undo.setData("mdi6.undo")
    redo = stack.createRedoAction(window, "&Redo")
    # Ctrl+Y and Ctrl+Shift+Z everywhere: X11's standard Redo is Ctrl+Shift+Z only, Windows' Ctrl+Y
    redo.setShortcuts(_key_sequences((SK.Redo, "Ctrl+Y", "Ctrl+Shift+Z"), explicit))
    redo.setData("mdi6.redo")
    actions["@undo"], actions["@redo"] = undo, redo
    themes = QActionGroup(window)
    for name in theme.THEMES:
        action = QAction(name.capitalize(), window, checkable=True)
        action.setObjectName(f"action_theme_{name}")
        action.setChecked(name == theme.current_theme())
        action.triggered.connect(lambda _=False, n=name: window.set_theme(n))
        themes.addAction(action)
        actions[f"theme_{name}"] = action
    toggle = QAction("Toggle Theme", window)
    toggle.setObjectName("action_theme_toggle")
    toggle.setShortcut(QKeySequence("Ctrl+Shift+T"))
    toggle.triggered.connect(lambda: window.set_theme("light" if theme.current_theme() == "dark" else "dark"))
    actions["@theme_toggle"] = toggle
    refresh_icons(actions)
    return actions


def refresh_icons(actions: dict[str, QAction]) -> None:
    """(Re)tint every action icon for the current theme."""
    for key, action in actions.items():
        name = action.data()
        if key == "@theme_toggle":
            name = "mdi6.weather-sunny" if theme.current_theme() == "dark" else "mdi6.weather-night"
        if key == "run":
            action.setIcon(theme.icon("mdi6.play", "ok"))
        elif key == "stop":
            action.setIcon(theme.icon("mdi6.stop", "error"))
        elif isinstance(name, str):
            action.setIcon(theme.icon(name))


def build_menus(window: WindowHost, actions: dict[str, QAction]) -> dict[str, QMenu]:
    menus: dict[str, QMenu] = {}
    bar = window.menuBar()
    for title, items in MENUS:
        menu = bar.addMenu(title)
        menu.setObjectName("menu_" + title.replace("&", "").lower())
        menus[title.replace("&", "").lower()] = menu
        for item in items:
            if item == "-":
                menu.addSeparator()
            elif item == "@recent":
                window.recent_menu = menu.addMenu(theme.icon("mdi6.history"), "Open &Recent")
                window.recent_menu.aboutToShow.connect(window.fill_recent_menu)
            elif item == "@docks":
                panels = menu.addMenu("&Panels")
                for dock in window.docks.values():
                    panels.addAction(dock.toggleViewAction())
            elif item == "@theme":
                sub = menu.addMenu(theme.icon("mdi6.palette-outline"), "&Theme")
                for name in theme.THEMES:
                    sub.addAction(actions[f"theme_{name}"])
                sub.addSeparator()
                sub.addAction(actions["@theme_toggle"])
            else:
                menu.addAction(actions[item])
    return menus


def build_toolbar(window: WindowHost, actions: dict[str, QAction]) -> QToolBar:
    bar = QToolBar("Main toolbar", window)
    bar.setObjectName("MainToolbar")
    bar.setMovable(False)
    em = window.fontMetrics().height()
    bar.setIconSize(bar.iconSize().scaled(int(em * 1.25), int(em * 1.25), Qt.AspectRatioMode.KeepAspectRatio))
    for item in TOOLBAR:
        if item == "-":
            bar.addSeparator()
        elif item == "@spacer":
            spacer = QWidget(bar)
            spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            bar.addWidget(spacer)
        else:
            bar.addAction(actions[item])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    return bar


def _typeable(text: str) -> bool:
    """Keys on an ordinary keyboard (not media keys such as "Open" or "Help")."""
    key = text.rsplit("+", 1)[-1] or "+"
    return len(key) == 1 or key in ("Del", "Ins", "Backspace", "Home", "Tab", "Esc", "Return", "Enter") or (
        key[0] == "F" and key[1:].isdigit())


def shortcut_rows(actions: dict[str, QAction]) -> list[tuple[str, str]]:
    """(action, shortcuts) for the shortcuts dialog and docs/ui.md."""
    rows = []
    for key, action in actions.items():
        texts = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()]
        keys = ", ".join(t for t in texts if _typeable(t))
        if keys and not key.startswith("theme_"):
            rows.append((action.text().replace("&", "").rstrip("…"), keys))
    return rows
