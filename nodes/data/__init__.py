"""Datasets: `data.load`, `data.split`, `data.tokenize`, with the format detection (`formats`), the
storage of dataset artifacts (`storage`) and the training views of rows (`examples`) that the
training, RL and evaluation families share."""

NODE_MODULES: tuple[str, ...] = ("datasets", "tool_use")
