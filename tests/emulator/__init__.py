"""A Discord API emulator for Agora's end-to-end tests (REST + gateway on one
TLS port, a JSON control API on another). See README.md."""
