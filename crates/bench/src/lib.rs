//! `canopy-bench`: reference workloads for Canopy's engine (DESIGN §7), a harness that times
//! checks, and the same workload in peer engines (cedar-policy, casbin) for comparison. Kept out
//! of the product binary.

pub mod backup;
pub mod changes;
pub mod engine;
pub mod http;
pub mod measure;
pub mod peers;
pub mod semantics;
pub mod store;
pub mod workload;
