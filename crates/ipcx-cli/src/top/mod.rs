//! `ipcx top` (placeholder while it is built).
pub(crate) fn run(_args: crate::cli::TopArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("not yet")
}
