//! taskgate: a self-hosted Tencent Cloud API 3.0 server whose actions run real asynchronous tasks.
//!
//! Layers, each importing only those below it: `server` (composition root, imported by `main`
//! alone) → `http`, `http_server` → `gateway` → `products` (routing) → `products::{tiw, tcss,
//! ecm}` → `accounts`, `capabilities`, `metrics`, `config` → `action` (the contract).

pub mod accounts;
pub mod action;
pub mod capabilities;
pub mod config;
pub mod control;
pub mod dev;
pub mod download;
pub mod gateway;
mod http;
pub mod http_server;
pub mod metrics;
pub mod migrations;
pub mod products;
pub mod sandbox;
pub mod server;
