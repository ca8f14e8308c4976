use clap::Parser;
use istio_rollout::error::Report;
use std::io::IsTerminal;

fn main() -> std::process::ExitCode {
    let cli = istio_rollout::cli::Cli::parse();
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = stdout.lock();
    match istio_rollout::app::run(cli, terminal, &mut out) {
        Ok(code) => std::process::ExitCode::from(code.code()),
        // Whoever read stdout has stopped (`| head`): nothing went wrong here (as ripgrep does).
        Err(e) if e.is_broken_pipe() => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("istio-rollout: error: {}", Report(&e));
            std::process::ExitCode::from(e.exit_code().code())
        }
    }
}
