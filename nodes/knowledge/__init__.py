"""Knowledge bases: `docs.load`, `docs.split`, `embed.load`, `index.build`, `index.retrieve`, `knowledge.cite`,
`eval.retrieval`, `eval.questions`. Port types in `kinds`; `search.retrieve_passages` is the call an app
makes to query a built index."""

NODE_MODULES: tuple[str, ...] = ("documents", "index", "retrieval", "evaluation")
