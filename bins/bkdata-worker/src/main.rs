fn main() -> anyhow::Result<()> {
    // Until the real steps land, the worker ships placeholder steps (see README).
    bkdata_worker::main_with(bkdata_pipeline::steps::placeholder_registry(), |r| r)
}
