//! canopy-testkit: the YAML scenarios of `tests/scenarios/` and the runner that plays them
//! against the engine. (The runner against a real server arrives with the server.)

pub mod scenario;

pub use scenario::{Scenario, run_on_engine};
