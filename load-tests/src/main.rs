//! `pytake-load`: load generator and benchmark driver for PyTake. Each scenario prints a summary,
//! writes a JSON result (`--json`) and prints the line to paste into docs/BENCHMARKS.md.

mod agents;
mod api;
mod chart;
mod consoles;
mod flow;
mod http;
mod report;
mod webhook;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "pytake-load", about = "Load scenarios for PyTake")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// The HTTP floor: GET /health/live from closed-loop clients.
    Http(http::Args),
    /// Signed webhook deliveries at a fixed rate (open loop), then drain and reconcile.
    Webhook(webhook::Args),
    /// Agent sockets: memory per idle socket, webhook-to-frame latency, fan-out.
    Agents(agents::Args),
    /// Admin consoles that reconnect and resume through a fault, reporting whether each came back.
    Consoles(consoles::Args),
    /// Messages answered by a flow through the outbox to an in-process fake Graph API (end to end).
    Flow(flow::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.scenario {
        Scenario::Http(args) => http::run(args).await,
        Scenario::Webhook(args) => webhook::run(args).await,
        Scenario::Flow(args) => flow::run(args).await,
        Scenario::Agents(args) => agents::run(args).await,
        Scenario::Consoles(args) => consoles::run(args).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("pytake-load: the run finished but its verdict is FAIL (see above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("pytake-load: {e}");
            ExitCode::from(2)
        }
    }
}
