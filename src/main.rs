use clap::Parser;
use std::io::IsTerminal;

fn main() -> std::process::ExitCode {
    let cli = istio_rollout::cli::Cli::parse();
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = stdout.lock();
    match istio_rollout::app::run(cli, terminal, &mut out) {
        Ok(code) => std::process::ExitCode::from(code.code()),
        Err(e) => {
            eprintln!("istio-rollout: error: {e}");
            std::process::ExitCode::from(e.exit_code().code())
        }
    }
}
