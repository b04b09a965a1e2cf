//! canopy-core: Canopy's model and decision engine.
//!
//! The tree of an organisation (folders, projects, resources and links), principals and groups,
//! roles, bindings and guardrails ([`model`]); the commands that change them ([`command`]); and
//! the engine that decides, explains, lists and diffs access over an incremental index
//! ([`engine`]). Pure: no I/O, no async; time and randomness come from a [`ids::Clock`].

pub mod action;
pub mod command;
pub mod document;
pub mod engine;
pub mod error;
pub mod ids;
pub mod installation;
pub mod messages;
pub mod model;
pub mod name;
pub mod roles;
pub mod time;

pub use engine::OrgEngine;
pub use roles::system_roles;
