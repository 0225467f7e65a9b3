"""Kept for imports written before the exit codes moved to ``mediaenhancer_core.exit_codes``."""

from mediaenhancer_core.exit_codes import ExitCode, exit_code_for

__all__ = ["ExitCode", "exit_code_for"]
