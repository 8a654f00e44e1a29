"""FlowStudio: build, run and export language-model flows offline."""

__version__ = "0.1.0"
