//! `kernel-check`: a wasi:cli command (wasm32-wasip2, +simd128) that runs the
//! edge's vector kernels where they really run, inside wasm.
//!
//! - `kernel-check verify`: the SIMD kernels against an f64 reference
//!   ([`kernels::disagreement`]) on random vectors of every length
//!   1..=2048; prints the largest relative difference and the length it
//!   was found at, and exits 1 past 1e-5, on any non-finite difference, or
//!   when built without SIMD.
//! - `kernel-check bench`: prints, as `name value unit` lines, nanoseconds per
//!   1536-dim cosine (SIMD and scalar), an exact top-10 search of a hot
//!   collection of 10 000 × 1536, and the copy bandwidth of this instance.

use edge_core::cache::HotCollection;
use edge_core::kernels;
use edge_core::model::{Metric, SearchRequest, VectorRecord};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn vector(&mut self, dims: usize) -> Vec<f32> {
        (0..dims).map(|_| self.next_f32()).collect()
    }
}

fn verify() -> ExitCode {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // The first NaN or largest difference wins; `disagreement` reports a
    // non-finite output as infinity, and a NaN is kept should one appear.
    let (mut worst, mut at) = (0f32, 0usize);
    for dims in 1..=2048 {
        let (a, b) = (rng.vector(dims), rng.vector(dims));
        let d = kernels::disagreement(&a, &b);
        if !worst.is_nan() && (d.is_nan() || d > worst) {
            (worst, at) = (d, dims);
        }
    }
    println!("simd128 {}", kernels::SIMD);
    println!("max_relative_difference {worst:e}");
    println!("at_length {at}");
    if kernels::SIMD && worst.is_finite() && worst <= 1e-5 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Nanoseconds per call of `f`, best of five rounds of `iters` calls.
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

fn bench() -> ExitCode {
    let mut rng = Rng(42);
    let (a, b) = (rng.vector(1536), rng.vector(1536));
    let simd = time_ns(20_000, || {
        black_box(kernels::cosine(black_box(&a), black_box(&b)));
    });
    // The plain f32 loop a scalar cosine is (LLVM keeps float sums in order,
    // so it stays scalar even with simd128 enabled).
    let scalar = time_ns(20_000, || {
        let (a, b) = (black_box(&a), black_box(&b));
        let (d, na, nb) = a.iter().zip(b).fold((0f32, 0f32, 0f32), |(d, na, nb), (x, y)| {
            (d + x * y, na + x * x, nb + y * y)
        });
        black_box(kernels::cosine_from(d, na.sqrt(), nb.sqrt()));
    });
    println!("cosine_1536_simd_ns {simd:.1}");
    println!("cosine_1536_scalar_ns {scalar:.1}");

    let (rows, dims) = (10_000usize, 1536usize);
    let records: Vec<VectorRecord> = (0..rows)
        .map(|i| VectorRecord::new(format!("v{i}"), rng.vector(dims), "{}"))
        .collect();
    let hot = HotCollection::new(Metric::Cosine, dims, 1, records);
    let request = SearchRequest {
        vector: rng.vector(dims),
        k: 10,
        filter: None,
        include_values: false,
        include_metadata: true,
    };
    let search = time_ns(5, || {
        black_box(hot.search(black_box(&request), None));
    });
    // The floor: bytes a search must read, at this instance's copy bandwidth.
    let scanned = rows * dims * 4;
    let source = vec![1u8; scanned];
    let mut target = vec![0u8; scanned];
    let copy = time_ns(5, || {
        target.copy_from_slice(black_box(&source));
        black_box(&target);
    });
    let bandwidth = 2.0 * scanned as f64 / copy; // read + write bytes per ns = GB/s
    let floor = scanned as f64 / bandwidth;
    println!("hot_search_10000x1536_ns {search:.0}");
    println!("copy_bandwidth_gb_s {bandwidth:.2}");
    println!("hot_search_floor_ns {floor:.0}");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("verify") => verify(),
        Some("bench") => bench(),
        _ => {
            eprintln!("usage: kernel-check verify|bench");
            ExitCode::from(2)
        }
    }
}
