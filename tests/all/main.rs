//! End-to-end tests: the real `zerodb-edge` binary, the real edge component
//! compiled to wasm, and a real PostgreSQL with pgvector (started by
//! `scripts/test`), driven over HTTP.

mod api;
mod cache;
mod cli;
mod coherence;
mod containment;
mod errors;
mod events;
mod files;
mod harness;
mod health;
mod kernels;
mod migrations;
mod numbers;
mod outage;
mod peers;
mod plans;
mod portable;
mod restart;
mod tenancy;
mod wasm_command;
