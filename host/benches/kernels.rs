//! Cosine kernels at 1536 dimensions, measured in one run on one machine:
//! the edge component's wasm SIMD128 kernel and its scalar loop (run inside
//! wasmtime by the `kernel-check` command), and native simsimd (criterion).
//! Also an exact top-10 search of a hot collection of 10 000 × 1536 inside
//! wasm, against the floor set by this instance's memory bandwidth.
//!
//! `cargo bench -p zerodb-edge --bench kernels` (after `scripts/build --all`).
//!
//! With `ZERODB_BENCH_SHORT=1` (as `scripts/test` runs it) criterion is
//! skipped and the bench fails unless wasm SIMD is at least 3x its scalar
//! loop (target 4x), at most 3x native (target 2x), and the hot search at
//! most 3x the bandwidth floor: loose bounds for a shared machine, which a
//! kernel that lost its SIMD, or a scan that lost its speed, still fails.

/// The short mode's bounds (see the module docs).
const SHORT_SIMD_OVER_SCALAR: f64 = 3.0;
const SHORT_WASM_OVER_NATIVE: f64 = 3.0;
const SHORT_SEARCH_OVER_FLOOR: f64 = 3.0;

use criterion::Criterion;
use simsimd::SpatialSimilarity;
use std::hint::black_box;
use std::time::Instant;
use zerodb_test_support::wasm_command;

fn vector(seed: u32, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

/// Nanoseconds a call, best of five rounds.
fn time_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let (a, b) = (vector(1, 1536), vector(2, 1536));
    let short = std::env::var("ZERODB_BENCH_SHORT").is_ok_and(|v| v == "1");
    if !short {
        let mut criterion = Criterion::default().configure_from_args();
        criterion.bench_function("native simsimd cosine 1536", |bench| {
            bench.iter(|| f32::cosine(black_box(&a), black_box(&b)))
        });
        criterion.final_summary();
    }

    let native = time_ns(200_000, || {
        black_box(f32::cosine(black_box(&a), black_box(&b)));
    });
    let (code, out) = wasm_command::run(&wasm_command::built_component("kernel-check"), &["bench"]);
    assert_eq!(code, 0, "kernel-check bench failed:\n{out}");
    let figure = |name: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("kernel-check printed no {name}:\n{out}"))
    };
    let (simd, scalar) = (figure("cosine_1536_simd_ns"), figure("cosine_1536_scalar_ns"));
    let (search, floor, bandwidth) = (
        figure("hot_search_10000x1536_ns"),
        figure("hot_search_floor_ns"),
        figure("copy_bandwidth_gb_s"),
    );
    println!();
    println!("cosine, 1536 dims (ns a call, best of 5 rounds):");
    println!("  wasm simd128       {simd:8.1}");
    println!(
        "  wasm scalar        {scalar:8.1}   simd is {:.2}x faster than scalar (target >= 4x)",
        scalar / simd
    );
    println!(
        "  native simsimd     {native:8.1}   wasm simd is {:.2}x native (target <= 2x)",
        simd / native
    );
    println!("hot collection, exact top-10 over 10 000 x 1536 inside wasm:");
    println!("  search             {:8.2} ms", search / 1e6);
    println!(
        "  bandwidth floor    {:8.2} ms   ({:.1} MB scanned at {bandwidth:.1} GB/s copy bandwidth); search is {:.2}x the floor",
        floor / 1e6,
        10_000.0 * 1536.0 * 4.0 / 1e6,
        search / floor
    );
    if short {
        assert!(
            scalar / simd >= SHORT_SIMD_OVER_SCALAR,
            "wasm SIMD is only {:.2}x its scalar loop",
            scalar / simd
        );
        assert!(
            simd / native <= SHORT_WASM_OVER_NATIVE,
            "wasm SIMD is {:.2}x native",
            simd / native
        );
        assert!(
            search / floor <= SHORT_SEARCH_OVER_FLOOR,
            "the hot search is {:.2}x the bandwidth floor",
            search / floor
        );
    }
}
