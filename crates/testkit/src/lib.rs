//! canopy-testkit: boots a real server for tests (issue "The server, the API and the CLI").
