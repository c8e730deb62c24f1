//! taskgate: a self-hosted Tencent Cloud API 3.0 server whose actions run real asynchronous tasks.

pub mod accounts;
pub mod app;
pub mod clock;
pub mod config;
pub mod gateway;
pub mod http;
pub mod http_server;
pub mod metrics;
pub mod migrations;
pub mod products;
