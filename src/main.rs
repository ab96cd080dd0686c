//! `kttipay`: one binary, several roles.
//!
//! `serve` (the default) runs everything in one process for a laptop; `api` and
//! `worker` split it for production; `migrate`, `admin` and `openapi` are one-shot.

use anyhow::Context;
use clap::{Parser, Subcommand};
use kttipay::config::LogFormat;
use kttipay::{Config, Roles, prepare_database, start};
use kttipay_jobs::Queue;

// A request allocates and frees many small buffers (rows, JSON, headers) across
// threads; mimalloc does that with less contention than glibc's malloc, which
// took a tenth of the API's CPU on a list of 100 members.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "kttipay", version, about = "KttiPay backend")]
struct Cli {
    /// Check the configuration for the given command and exit: 0 when it would
    /// start, 2 with every problem named otherwise. Connects to nothing.
    #[arg(long, global = true)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// API, outbox relay and all workers in one process; creates and migrates the database first.
    Serve,
    /// The HTTP API only.
    Api,
    /// The outbox relay and workers for some queues.
    Worker {
        /// Comma-separated queues to serve (default: KTTIPAY_WORKER_QUEUES, else all).
        #[arg(long, value_delimiter = ',')]
        queues: Option<Vec<String>>,
        /// Jobs run at once per queue (default: KTTIPAY_WORKER_CONCURRENCY).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Do not run the outbox relay in this process.
        #[arg(long)]
        no_relay: bool,
    },
    /// Create the database if missing and apply migrations.
    Migrate,
    /// The sandbox banking provider alone (a Shaype simulator for development).
    Sandbox,
    /// Administrative commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Grant platform-admin rights to the user with this email.
    Promote { email: String },
    /// Recompute every balance from the journal and report any difference (exit 1).
    VerifyLedger {
        /// Also compare every account's balances with the provider's (needs SHAYPE_BASE_URL).
        #[arg(long)]
        against_provider: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        println!("{}", kttipay_api::openapi_json());
        return Ok(());
    }
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("kttipay: invalid configuration:");
            for e in errors {
                eprintln!("  - {e}");
            }
            std::process::exit(2);
        }
    };
    if cli.check_config {
        check_config(&config, cli.command.as_ref());
    }
    init_logging(config.log_format);
    if config.jwt_secret_is_default {
        tracing::warn!("KTTIPAY_JWT_SECRET is unset: using the development secret");
    }

    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            prepare_database(&config).await?;
            run(&config, Roles::everything(&config)).await
        }
        Command::Api => {
            let roles = Roles {
                api: true,
                relay: false,
                worker_queues: vec![],
                sandbox: false,
            };
            run(&config, roles).await
        }
        Command::Sandbox => {
            let sandbox_config = kttipay::runtime::sandbox_config(&config, config.sandbox_webhook_url.clone());
            let sandbox = kttipay_sandbox::start(sandbox_config, config.sandbox_addr).await?;
            let stop = sandbox.shutdown_token();
            tokio::spawn(async move {
                shutdown_signal().await;
                stop.cancel();
            });
            sandbox.wait().await;
            Ok(())
        }
        Command::Worker {
            queues,
            concurrency,
            no_relay,
        } => {
            if let Some(names) = queues {
                config.worker_queues = names
                    .iter()
                    .map(|n| Queue::parse(n).with_context(|| format!("unknown queue {n:?}")))
                    .collect::<anyhow::Result<_>>()?;
            }
            if let Some(n) = concurrency {
                anyhow::ensure!((1..=1024).contains(&n), "--concurrency must be 1 to 1024");
                config.worker_concurrency = n;
            }
            let roles = Roles {
                api: false,
                relay: !no_relay,
                worker_queues: config.worker_queues.clone(),
                sandbox: false,
            };
            run(&config, roles).await
        }
        Command::Migrate => {
            prepare_database(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Promote { email },
        } => {
            let pool = kttipay_db::connect(&config.database_url, 1).await?;
            let email = email.trim().to_lowercase();
            if kttipay_db::users::promote_admin(&pool, &email).await? {
                println!("{email} is now a platform admin");
                Ok(())
            } else {
                anyhow::bail!("no user with email {email}")
            }
        }
        Command::Admin {
            command: AdminCommand::VerifyLedger { against_provider },
        } => {
            let pool = kttipay_db::connect(&config.database_url, 1).await?;
            let mut conn = pool.acquire().await?;
            let report = kttipay_db::ledger::verify(&mut conn).await?;
            // The pool has one connection: give it back for the provider check.
            drop(conn);
            println!(
                "checked {} ktties and {} journal entries; ledger sum {}",
                report.kttis_checked, report.entries_checked, report.ledger_sum
            );
            for d in &report.differences {
                println!(
                    "DIFFERENCE ktti {}: kept available {} reserved {}, journal says available {} reserved {}",
                    d.ktti, d.kept.available, d.kept.reserved, d.recomputed.available, d.recomputed.reserved
                );
            }
            for e in &report.unbalanced_entries {
                println!("UNBALANCED entry {e}");
            }
            let mut sound = report.is_sound();
            if sound {
                println!("the ledger is sound");
            }
            if against_provider {
                sound &= verify_against_provider(&config, &pool).await?;
            }
            if !sound {
                std::process::exit(1)
            }
            Ok(())
        }
        Command::Openapi => unreachable!("handled before configuration"),
    }
}

/// `--check-config`: what the command would run, and whether it could start.
fn check_config(config: &Config, command: Option<&Command>) -> ! {
    let roles = match command {
        None | Some(Command::Serve) => Roles::everything(config),
        Some(Command::Api) => Roles {
            api: true,
            relay: false,
            worker_queues: vec![],
            sandbox: false,
        },
        Some(Command::Worker { queues, .. }) => {
            let mut bad = Vec::new();
            let queues = match queues {
                Some(names) => names
                    .iter()
                    .filter_map(|n| {
                        Queue::parse(n).or_else(|| {
                            bad.push(format!("--queues: unknown queue {n:?}"));
                            None
                        })
                    })
                    .collect(),
                None => config.worker_queues.clone(),
            };
            if !bad.is_empty() {
                report_and_exit(&bad);
            }
            Roles {
                api: false,
                relay: true,
                worker_queues: queues,
                sandbox: false,
            }
        }
        Some(_) => Roles {
            api: false,
            relay: false,
            worker_queues: vec![],
            sandbox: false,
        },
    };
    let problems = roles.problems(config);
    if !problems.is_empty() {
        report_and_exit(&problems);
    }
    println!("configuration ok ({} environment)", config.environment);
    std::process::exit(0)
}

fn report_and_exit(problems: &[String]) -> ! {
    eprintln!("kttipay: invalid configuration:");
    for p in problems {
        eprintln!("  - {p}");
    }
    std::process::exit(2)
}

/// Compares our balances with the provider's; whether they all agree.
async fn verify_against_provider(config: &Config, pool: &kttipay_db::PgPool) -> anyhow::Result<bool> {
    let Some(url) = config.shaype_base_url.as_deref() else {
        eprintln!("kttipay: --against-provider needs SHAYPE_BASE_URL (the provider to compare with)");
        std::process::exit(2);
    };
    let bank = kttipay_providers::shaype::client::ShaypeClient::new(url, &config.shaype_api_token)
        .map_err(anyhow::Error::msg)?;
    let report = kttipay::reconcile::against_provider(pool, &bank).await?;
    println!("compared {} accounts with the provider", report.accounts_checked);
    for d in &report.differences {
        println!(
            "PROVIDER DIFFERENCE ktti {} account {}: ours total {} available {}, provider total {} available {}",
            d.ktti,
            d.account,
            d.ours.total(),
            d.ours.available,
            d.bank.total.map_or("?".into(), |m| m.to_string()),
            d.bank.available.map_or("?".into(), |m| m.to_string()),
        );
    }
    if report.differences.is_empty() {
        println!("every account agrees with the provider");
    }
    Ok(report.differences.is_empty())
}

/// Runs until SIGINT or SIGTERM, then stops gracefully.
async fn run(config: &Config, roles: Roles) -> anyhow::Result<()> {
    let running = start(config, roles).await?;
    let stop = running.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and jobs");
        stop.cancel();
    });
    running.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,apalis=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
