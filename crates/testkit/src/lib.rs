//! canopy-testkit: the YAML scenarios of `tests/scenarios/` and the runner that plays them
//! against the engine; throwaway PostgreSQL clusters for tests that need a real database.

pub mod clock;
pub mod fixture;
pub mod http;
pub mod passkey;
pub mod postgres;
pub mod scenario;
pub mod scenario_http;
pub mod server;
pub mod totp;

pub use scenario::{Scenario, run_on_engine};
