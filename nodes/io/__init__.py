"""Values in and out of a flow: `io.text` (a text typed or given with `--input`) and `io.output`."""

NODE_MODULES: tuple[str, ...] = ("text",)
