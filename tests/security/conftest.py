"""The security sweep uses the account server's fixtures (databases, cores, accounts, media)."""

from tests.server.conftest import *  # noqa: F403 - fixtures are found by name
from tests.server.media_support import media_core, media_files, s3_url, storage_env, storage_kind  # noqa: F401
