"""launcher=accelerate for the training nodes: the shipped accelerate configs (`configs`), the Slurm script
(`slurm`), the node side of a launch (`launcher`, `supervise`) and what every rank runs (`entry`,
`rank_context`)."""
