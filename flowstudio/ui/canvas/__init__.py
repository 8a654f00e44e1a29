"""The flow canvas: the `CanvasView` widget and everything drawn or done on it.

The view (`view`) over the scene that mirrors the document (`scene`), the items it holds (`node_item`,
`edge_item`, `port_item`, `group_item`), the far-zoom `overview` and the `minimap`; the gestures
(`interaction`, `connect`, `editors`), the editing verbs (`actions`, `clipboard`, `layout`), the
`quick_add` popup and the canvas colours (`style`). Helpers are typed against the protocols in `host`,
never against the view itself, so imports point one way: the view imports its helpers. Nothing here
imports the window, the panels or the run package.
"""
