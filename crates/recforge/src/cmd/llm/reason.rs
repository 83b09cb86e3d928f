//! `recforge llm reason` (skeleton: being built in issue 8).

use anyhow::{Result, bail};

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("`recforge llm reason` is not built yet (issue 8)")
}
