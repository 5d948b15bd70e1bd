//! End-to-end tests: the real `zerodb-edge` binary, the real edge component
//! compiled to wasm, and a real PostgreSQL with pgvector (started by
//! `scripts/test`), driven over HTTP. The helpers they share with the
//! benches are the `zerodb-test-support` crate (`tests/support`).

use zerodb_test_support::{harness, peers, wasm_command};

mod api;
mod cache;
mod cli;
mod coherence;
mod containment;
mod embeddings;
mod errors;
mod events;
mod files;
mod health;
mod kernels;
mod metrics;
mod migrations;
mod numbers;
mod outage;
mod plans;
mod portable;
mod restart;
mod tenancy;
mod zerodb;
mod zerodb_client;
mod zerodb_clients;
