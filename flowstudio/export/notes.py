"""What the export of each node type produces, one line per type (for the node reference and README)."""

from __future__ import annotations

from flowstudio.core.node import Node

LIBRARY = "flowstudio.nodes"

SPECIAL = {
    "io.text": "its text becomes a constant of flow.py (change it there)",
    "io.output": "its value is printed in the script's final JSON under `outputs` (and in metrics.json)",
    "model.load": "built-in models become the absolute path of the exporting machine's copy (`--ID-source` "
                  "moves it); hub ids are read from the local Hugging Face cache; never downloads",
    "tokenizer.load": "built-in sources become absolute paths as for model.load (`--ID-source` moves it)",
    "data.load": "built-in data sets are copied into the export's `data/`; local files are read from their "
                 "absolute path (`--ID-source` moves it)",
    "model.save": "writes to its `path` (`--ID-path` moves it) with the same refusals as in the app",
    "tool.python": "exported only with `--allow-code` (the script would run code written in the flow); the "
                   "sandbox is vendored with it",
}


def export_note(cls: type[Node]) -> str:
    """One line: what `flowstudio export` writes for a node of this type."""
    module = cls.__module__
    if not (module == LIBRARY or module.startswith(LIBRARY + ".")):
        return f"not exported: a plugin node (module {module}) cannot be copied into a standalone script"
    where = "flowlib" + module[len("flowstudio"):]
    text = f"a function in flow.py that runs `{cls.__name__}` from the vendored `{where}`"
    fields = cls.Params.model_fields
    training = cls.category == "Training"
    options = [f"`--{name.replace('_', '-')}`" for name in ("max_steps", "learning_rate")
               if training and name in fields] + (["`--seed`"] if "seed" in fields else [])
    if options:
        text += f"; {', '.join(options)} override{'s' if len(options) == 1 else ''} it"
    if "launcher" in fields:
        text += "; trains on every process under `accelerate launch`"
    elif training:
        text += "; one process only: under `accelerate launch` the script stops before it, saying so"
    extra = SPECIAL.get(cls.type)
    if extra is None and cls.runs_user_code:
        extra = "exported only with `--allow-code`"
    return text + (f"; {extra}" if extra else "")
