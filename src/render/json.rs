//! `--output json`: the plan as documented in the README (`format_version` 1).

pub fn render(plan: &crate::plan::Plan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, plan)?;
    writeln!(out)
}
