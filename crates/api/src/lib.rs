//! canopy-api: wire types and a typed HTTP client (issue "The server, the API and the CLI").
