pub fn run(_a: HessianArgs) -> anyhow::Result<()> { anyhow::bail!("not yet") }
#[derive(clap::Args, Debug)] pub struct HessianArgs {}
