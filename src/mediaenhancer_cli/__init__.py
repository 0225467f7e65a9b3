"""The `mediaenhancer` command line: a thin Typer + Rich layer over mediaenhancer_core."""
