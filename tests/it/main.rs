//! paylink's integration tests, built as one test binary: one module per area, and
//! `support`, the harness they share. Run one area with `cargo test --test it <module>::`.

mod cli_config;
mod cli_data_dir;
mod cli_demo;
mod crash_server;
mod e2e_browser;
mod faults;
mod flow_client;
mod full_disk;
mod fuzz;
mod http_clients;
mod ledger_transfer;
mod ledger_upgrade;
mod mcp_agent_texts;
mod mcp_http;
mod mcp_list;
mod mcp_stdio;
mod operator_cli;
mod owner_attach;
mod reconcile_payments;
mod replicas;
mod return_page_load;
mod sandbox_api;
mod store_crash;
mod store_ledger;
mod store_race;
mod store_spend;
mod stripe_client;
mod stripe_crash;
mod stripe_integration;
mod stripe_mcp;
mod stripe_sandbox;
mod support;
mod webhook_confirmations;
mod webhook_forged;
mod webhook_notify;
