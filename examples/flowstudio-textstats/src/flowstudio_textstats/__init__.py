"""An example FlowStudio plugin; the node types live in `flowstudio_textstats.nodes`."""
