//! `provisioner-bench SCENARIO [--n N] [--concurrency C] [--redis-url URL] [--quick]`:
//! the benchmark of issue 5. The logic lives in `provisioner_tests::bench`.

use std::process::ExitCode;

fn main() -> ExitCode {
    provisioner_tests::bench::main(std::env::args().skip(1).collect())
}
