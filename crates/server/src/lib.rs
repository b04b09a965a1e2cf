//! canopy-server: the HTTP server (issue "The server, the API and the CLI").
