//! claude-server's integration tests, one binary: the HTTP server over loopback.

mod server;
