"""The main window and what belongs to it alone: `main_window` assembles the canvas, panels and run parts.

Its actions, menus and toolbar (`actions`, `action_search`), the file commands mixed into it (`files`)
with `recent_files` and crash `recovery`, the `start_page`, the `status_bar` and the modal questions
(`prompts`). Helpers are typed against the `WindowHost` protocol in `host`, not against `MainWindow`, so
`main_window` imports them and never the other way round.
"""
