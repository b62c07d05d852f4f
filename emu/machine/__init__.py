"""One emulated machine's run: its spec, the supervisor, the two process bodies (the
kernel actor and a CPU), what every child does first, and the run directories."""
