# Recipes call the same scripts as the README.

# Run the demo (server + worker + one pipeline task).
demo:
    scripts/demo.sh

# Stop the demo's server and worker.
demo-stop:
    scripts/demo.sh stop

# Run every test (fmt, clippy, the test suite) against the real services.
test:
    scripts/test.sh

# Install/start PostgreSQL, MariaDB, Redis and NATS when missing.
services:
    scripts/services.sh

# Benchmarks (job queue, HTTP); figures go to docs/BENCHMARKS.md by hand.
bench:
    scripts/bench.sh
