// Records are many small allocations; mimalloc serves them markedly faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Until the real steps land, the worker ships placeholder steps (see README).
    bkdata_worker::main_with(bkdata_pipeline::steps::placeholder_registry(), |r| r)
}
