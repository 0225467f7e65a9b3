"""The CLI's side of the HTTP API: the client, stored credentials, transfers and remote jobs."""
