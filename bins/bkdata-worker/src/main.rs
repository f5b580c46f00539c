// Records are many small allocations; mimalloc serves them markedly faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Seed 002's schema training-data workflow.
    let config = bkdata_training::TrainingConfig::from_env().map_err(anyhow::Error::msg)?;
    bkdata_worker::main_with(bkdata_training::steps(config), |r| r)
}
