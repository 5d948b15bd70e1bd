//! What the host's end-to-end tests (`tests/all`) and benches
//! (`host/benches`) share: a database per test on the test PostgreSQL, the
//! real `zerodb-edge` binary serving on a free port with a small HTTP client
//! ([`harness`]), its service registry as `/v1/health` shows it
//! ([`health`]), the protocol peers the origin talks to ([`peers`]), and a
//! runner for wasi:cli command components ([`wasm_command`]).
//!
//! The binary under test is the one cargo built beside the running test or
//! bench ([`harness::bin`]); this crate only compiles it as a dependency,
//! so it cannot name it with `env!("CARGO_BIN_EXE_zerodb-edge")`.
//!
//! Conventions: sizes are in bytes and durations are [`std::time::Duration`]
//! unless a name says otherwise (`_secs`). Helpers do not return errors: a
//! helper that cannot do its job panics with what went wrong, which fails
//! the test that called it.

#![deny(missing_docs)]

pub mod harness;
pub mod health;
pub mod peers;
pub mod wasm_command;
