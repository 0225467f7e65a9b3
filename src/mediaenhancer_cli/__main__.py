"""``python -m mediaenhancer_cli``: the same as the ``mediaenhancer`` command."""

from mediaenhancer_cli.app import main

if __name__ == "__main__":
    main(prog_name="mediaenhancer")
