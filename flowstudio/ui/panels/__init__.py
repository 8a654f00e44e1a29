"""The dockable panels around the canvas: the node `palette`, the `inspector`, `problems` and `history`.

The inspector builds its form from a node's params model: `param_widgets` reads the model into field
specs and holds the number widgets, `param_editors` has one editor per kind of param, `model_picker`
chooses a model source and `safe_inputs` keeps the mouse wheel from changing values it merely passes
over. Panels talk to the document through the controller and to the window through Qt signals; they
never import the window or the run package.
"""
