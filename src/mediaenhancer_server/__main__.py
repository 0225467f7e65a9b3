"""``python -m mediaenhancer_server``: the same as the ``mediaenhancer-server`` command."""

from mediaenhancer_server.cli import main

if __name__ == "__main__":
    main(prog_name="mediaenhancer-server")
