"""What the canvas helpers use of the view, its scene and its interaction: three small protocols.

`CanvasView`, `CanvasScene` and `CanvasInteraction` implement them. The helpers (`actions`,
`interaction`, `connect`, `editors`, `minimap`, `overview`) are typed against these protocols instead
of importing the classes that own them, so the imports point one way: the view imports its helpers,
no helper imports the view, the scene or the interaction. Only what the helpers use is listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, overload

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, SignalInstance
from PySide6.QtGui import QPolygon, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QWidget

from flowstudio.core.document import FlowDocument
from flowstudio.core.edits import Edit
from flowstudio.core.flow import EdgeSpec

from ..controller import DocumentController
from .edge_item import EdgeItem
from .group_item import GroupItem
from .node_item import NodeItem
from .quick_add import PendingConnection, QuickAddPopup


class SceneHost(Protocol):
    """The scene (`CanvasScene`): its items by id, and the few QGraphicsScene calls the helpers make."""

    nodes: dict[str, NodeItem]
    edges: dict[EdgeSpec, EdgeItem]
    groups: dict[str, GroupItem]
    overview_mode: bool

    def members_rect(self, node_ids: Iterable[str]) -> QRectF: ...

    def items(self, area: QRectF | QPointF, mode: Qt.ItemSelectionMode,
              order: Qt.SortOrder) -> list[QGraphicsItem]: ...

    def selectedItems(self) -> list[QGraphicsItem]: ...  # noqa: N802 - Qt's name

    def addItem(self, item: QGraphicsItem) -> None: ...  # noqa: N802 - Qt's name

    def removeItem(self, item: QGraphicsItem) -> None: ...  # noqa: N802 - Qt's name


class ViewHost(Protocol):
    """The view (`CanvasView`): document access, selection, edits, quick-add and the QGraphicsView calls used."""

    controller: DocumentController
    quick_add: QuickAddPopup
    paste_count: int
    statusMessage: SignalInstance  # noqa: N815 - Qt naming
    nodeActivated: SignalInstance  # noqa: N815 - Qt naming

    @property
    def doc(self) -> FlowDocument: ...

    @property
    def canvas_scene(self) -> SceneHost: ...

    # -- selection
    def selected_node_ids(self) -> list[str]: ...

    def selected_edges(self) -> list[EdgeItem]: ...

    def selected_groups(self) -> list[GroupItem]: ...

    def select_nodes(self, ids: Iterable[str]) -> None: ...

    def set_selection(self, items: Iterable[QGraphicsItem], extend: bool = False) -> None: ...

    def select_all(self) -> None: ...

    # -- edits and verbs
    def push(self, edit: Edit, merge_key: str | None = None) -> bool: ...

    def add_node(self, type_id: str, scene_pos: QPointF) -> str | None: ...

    def delete_selected(self) -> None: ...

    def copy(self) -> None: ...

    def cut(self) -> None: ...

    def paste(self) -> None: ...

    def duplicate(self) -> None: ...

    def auto_layout(self) -> None: ...

    def add_group_around_selection(self, title: str = "Frame") -> str | None: ...

    def open_quick_add(self, scene_pos: QPointF | None = None,
                       connection: PendingConnection | None = None) -> None: ...

    # -- geometry
    def items_rect(self, node_ids: Iterable[str] | None = None) -> QRectF: ...

    def frame_all(self) -> None: ...

    def cursor_anchor(self) -> QPointF | None: ...

    def pan_by(self, dx: float, dy: float) -> None: ...

    # -- QGraphicsView
    @overload
    def mapToScene(self, point: QPoint) -> QPointF: ...  # noqa: N802 - Qt's name
    @overload
    def mapToScene(self, rect: QRect) -> QPolygonF: ...  # noqa: N802 - Qt's name

    @overload
    def mapFromScene(self, point: QPointF) -> QPoint: ...  # noqa: N802 - Qt's name
    @overload
    def mapFromScene(self, rect: QRectF) -> QPolygon: ...  # noqa: N802 - Qt's name

    def items(self, area: QPoint | QRect) -> list[QGraphicsItem]: ...

    def viewport(self) -> QWidget: ...

    def centerOn(self, pos: QPointF) -> None: ...  # noqa: N802 - Qt's name

    def setFocus(self) -> None: ...  # noqa: N802 - Qt's name


class InteractionHost(Protocol):
    """The mouse gestures (`CanvasInteraction`) as the connection gesture and the editors see them."""

    view: ViewHost

    def item_at(self, view_pos: QPoint) -> QGraphicsItem | None: ...
