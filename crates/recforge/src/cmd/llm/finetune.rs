//! `recforge llm finetune` (skeleton: being built in issue 8).

use anyhow::{Result, bail};

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("`recforge llm finetune` is not built yet (issue 8)")
}
