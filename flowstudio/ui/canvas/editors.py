"""The canvas's context menu and its inline editors (node titles, frame titles)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QLineEdit, QMenu

from flowstudio.core.edits import SetTitle, UpdateGroup
from flowstudio.core.limits import clip

from . import actions
from . import style as cs
from .edge_item import EdgeItem
from .group_item import MAX_TITLE_CHARS as GROUP_TITLE_CHARS
from .group_item import GroupItem
from .host import InteractionHost
from .node_item import NodeItem

FRAME_COLORS = {"Indigo": "#5c6bc0", "Teal": "#26a69a", "Green": "#66bb6a", "Amber": "#ffb300",
                "Orange": "#ff7043", "Red": "#e53935", "Pink": "#ec407a", "Grey": "#78909c"}


def _swatch(value: str) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(value))
    return QIcon(pixmap)


class CanvasEditors:
    def __init__(self, interaction: InteractionHost) -> None:
        self.interaction = interaction
        self.view = interaction.view
        self.editor: QLineEdit | None = None
        # callables(menu, selected node ids) adding to a node's menu (the window's "Chat with this model")
        self.node_menu_hooks: list = []

    @property
    def scene(self):
        return self.view.canvas_scene

    @property
    def doc(self):
        return self.view.doc

    def context_menu(self, event) -> None:
        self.build_context_menu(event.pos()).exec(event.globalPos())

    def build_context_menu(self, pos: QPoint) -> QMenu:
        """The right-click menu for what is under `pos` (viewport coordinates)."""
        view = self.view
        item = self.interaction.item_at(pos)
        scene_pos = view.mapToScene(pos)
        menu = QMenu(view)
        if isinstance(item, NodeItem):
            if not item.isSelected():
                view.set_selection([item])
            menu.addAction("Rename…", self.rename_selected)
            menu.addAction("Duplicate", view.duplicate)
            menu.addAction("Copy", view.copy)
            menu.addAction("Cut", view.cut)
            menu.addSeparator()
            menu.addAction("Frame selection in a comment frame", view.add_group_around_selection)
            menu.addAction("Auto-layout selection", view.auto_layout)
            menu.addSeparator()
            menu.addAction("Select upstream", lambda: actions.select_related(view, upstream=True))
            menu.addAction("Select downstream", lambda: actions.select_related(view, upstream=False))
            menu.addAction("Disconnect all", lambda: actions.disconnect_selected(view))
            bypassed = all(getattr(self.doc.flow.node(i), "bypass", False) for i in view.selected_node_ids())
            menu.addAction("Un-bypass" if bypassed else "Bypass", lambda: actions.toggle_bypass(view))
            for hook in self.node_menu_hooks:
                hook(menu, view.selected_node_ids())
            menu.addSeparator()
            menu.addAction("Delete", view.delete_selected)
        elif isinstance(item, EdgeItem):
            view.set_selection([item])
            menu.addAction("Delete connection", view.delete_selected)
        elif isinstance(item, GroupItem) and item.hit_part(scene_pos) == "title":
            view.set_selection([item])
            menu.addAction("Rename frame…", lambda: self.edit_group_title(item))
            colours = menu.addMenu("Colour")
            for name, value in FRAME_COLORS.items():
                action = colours.addAction(name, lambda value=value: actions.set_group_color(view, item.group_id, value))
                action.setIcon(_swatch(value))
            menu.addAction("Fit to its nodes", lambda: actions.fit_group(view, item.group_id))
            menu.addAction("Delete frame (keep nodes)", view.delete_selected)
        else:
            menu.addAction("Add node…", lambda: view.open_quick_add(scene_pos))
            menu.addAction("Paste", view.paste)
            menu.addSeparator()
            menu.addAction("Select all", view.select_all)
            menu.addAction("Auto-layout", view.auto_layout)
            menu.addAction("Frame all", view.frame_all)
        return menu


    def _open_editor(self, scene_rect: QRectF, text: str, on_done) -> QLineEdit:
        self.finish_editor()
        editor = QLineEdit(self.view.viewport())
        editor.setText(text)
        editor.selectAll()
        rect = self.view.mapFromScene(scene_rect).boundingRect()
        editor.setGeometry(rect.adjusted(4, 2, -4, -2))
        editor.setFrame(True)
        done = {"flag": False}

        def finish() -> None:
            if done["flag"]:
                return
            done["flag"] = True
            value = editor.text()
            editor.hide()
            editor.deleteLater()
            if self.editor is editor:
                self.editor = None
            on_done(value)
            self.view.setFocus()

        editor.editingFinished.connect(finish)
        editor.show()
        editor.setFocus()
        self.editor = editor
        return editor

    def finish_editor(self) -> None:
        if self.editor is not None:
            self.editor.editingFinished.emit()

    def edit_group_title(self, group: GroupItem) -> QLineEdit:
        shown = clip(group.spec.title, GROUP_TITLE_CHARS)  # a long title is shown shortened

        def done(value: str) -> None:
            current = self.doc.flow.groups
            spec = next((g for g in current if g.id == group.group_id), None)
            if spec is not None and value != shown and value != spec.title:  # unchanged: keep it whole
                self.view.push(UpdateGroup(spec.model_copy(update={"title": value}), label="Rename frame"))

        return self._open_editor(group.title_rect(), shown, done)

    def rename_selected(self) -> QLineEdit | None:
        ids = self.view.selected_node_ids()
        if len(ids) != 1:
            return None
        item = self.scene.nodes[ids[0]]
        node_id = ids[0]

        def done(value: str) -> None:
            spec = self.doc.flow.node(node_id)
            if spec is None:
                return
            title = value.strip() or None
            if title == item.title:  # unchanged (item.title may be a long title shortened): keep it whole
                return
            if title != spec.title:
                self.view.push(SetTitle(node_id, title))

        rect = QRectF(item.pos(), QPointF(item.pos().x() + item.width, item.pos().y() + cs.TITLE_HEIGHT))
        return self._open_editor(rect, item.title, done)
