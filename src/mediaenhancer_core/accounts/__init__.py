"""Accounts: users, passwords, API tokens, sign-in sessions, device login, the identity provider, the sign-in throttle."""
