//! Vector kernels over f32: dot product, squared L2 distance, and cosine
//! similarity.
//!
//! Built for `wasm32` with `+simd128`, the public functions use 128-bit wasm
//! SIMD (several f32x4 accumulators, so more partial sums and independent
//! adds, and a scalar tail).
//! Everywhere else they are the [`scalar`] versions.
//!
//! [`disagreement`] checks whichever kernels are in use against a reference
//! it computes itself in f64, so the check means the same in a native build
//! (scalar kernels) as in wasm (SIMD kernels).

/// Plain loops accumulating in f64, rounded once to f32 at the end: the
/// kernels of a build without SIMD128.
pub mod scalar {
    /// The dot product `a·b` over the shorter length.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>() as f32
    }

    /// The squared Euclidean distance over the shorter length.
    pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum::<f64>() as f32
    }

    /// `(a·b, a·a, b·b)` in one pass.
    pub fn dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let (d, na, nb) = a.iter().zip(b).fold((0f64, 0f64, 0f64), |(d, na, nb), (x, y)| {
            let (x, y) = (*x as f64, *y as f64);
            (d + x * y, na + x * x, nb + y * y)
        });
        (d as f32, na as f32, nb as f32)
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    #[inline(always)]
    unsafe fn load(s: &[f32], i: usize) -> v128 {
        // SAFETY: callers pass `i + 4 <= s.len()`; v128_load allows unaligned loads.
        unsafe { v128_load(s.as_ptr().add(i) as *const v128) }
    }

    #[inline(always)]
    fn sum(v: v128) -> f32 {
        f32x4_extract_lane::<0>(v)
            + f32x4_extract_lane::<1>(v)
            + f32x4_extract_lane::<2>(v)
            + f32x4_extract_lane::<3>(v)
    }

    /// Sums `term(a[i..i+4], b[i..i+4])` into four f32x4 accumulators (16
    /// partial sums: fewer rounding steps each, and independent adds).
    #[inline(always)]
    fn reduce(a: &[f32], b: &[f32], term: impl Fn(v128, v128) -> v128, tail: impl Fn(f32, f32) -> f32) -> f32 {
        let n = a.len().min(b.len());
        let mut acc = [f32x4_splat(0.0); 4];
        let mut i = 0;
        while i + 16 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 16 <= n <= len of both slices.
                let (x, y) = unsafe { (load(a, i + 4 * j), load(b, i + 4 * j)) };
                *acc = f32x4_add(*acc, term(x, y));
            }
            i += 16;
        }
        while i + 4 <= n {
            // SAFETY: i + 4 <= n.
            let (x, y) = unsafe { (load(a, i), load(b, i)) };
            acc[0] = f32x4_add(acc[0], term(x, y));
            i += 4;
        }
        let mut total = sum(f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3])));
        while i < n {
            total += tail(a[i], b[i]);
            i += 1;
        }
        total
    }

    /// The dot product `a·b` over the shorter length.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        reduce(a, b, |x, y| f32x4_mul(x, y), |x, y| x * y)
    }

    /// The squared Euclidean distance over the shorter length.
    pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        reduce(
            a,
            b,
            |x, y| {
                let d = f32x4_sub(x, y);
                f32x4_mul(d, d)
            },
            |x, y| (x - y) * (x - y),
        )
    }

    /// `(a·b, a·a, b·b)` in one pass.
    pub fn dot_and_norms(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let n = a.len().min(b.len());
        let zero = f32x4_splat(0.0);
        let (mut d, mut na, mut nb) = ([zero; 2], [zero; 2], [zero; 2]);
        let mut i = 0;
        while i + 8 <= n {
            for j in 0..2 {
                // SAFETY: i + 8 <= n <= len of both slices.
                let (x, y) = unsafe { (load(a, i + 4 * j), load(b, i + 4 * j)) };
                d[j] = f32x4_add(d[j], f32x4_mul(x, y));
                na[j] = f32x4_add(na[j], f32x4_mul(x, x));
                nb[j] = f32x4_add(nb[j], f32x4_mul(y, y));
            }
            i += 8;
        }
        let (mut d, mut na, mut nb) = (
            sum(f32x4_add(d[0], d[1])),
            sum(f32x4_add(na[0], na[1])),
            sum(f32x4_add(nb[0], nb[1])),
        );
        while i < n {
            d += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
            i += 1;
        }
        (d, na, nb)
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd::{dot, dot_and_norms, l2_squared};

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub use scalar::{dot, dot_and_norms, l2_squared};

/// Whether the functions above run SIMD code in this build.
pub const SIMD: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (d, na, nb) = dot_and_norms(a, b);
    cosine_from(d, na.sqrt(), nb.sqrt())
}

/// Cosine similarity from a dot product and the two norms.
pub fn cosine_from(dot: f32, norm_a: f32, norm_b: f32) -> f32 {
    if norm_a == 0.0 || norm_b == 0.0 {
        0.0
    } else {
        (dot as f64 / (norm_a as f64 * norm_b as f64)) as f32
    }
}

/// The Euclidean norm (length) of `a`.
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Largest relative difference between the kernels in use (dot, squared
/// L2, the three parts of `dot_and_norms`, cosine) and a reference computed
/// here in f64 over `a` and `b`: `|x - ref| / max(|ref|, 1)` per output.
///
/// Any output that is not finite (NaN or infinite), or a reference that is
/// not (inputs with NaN), makes the result `f32::INFINITY`, never NaN, so a
/// caller's `worst <= tolerance` fails on it however the comparison is
/// written. Used by the native unit test and by `kernel-check verify` in wasm.
pub fn disagreement(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot_ref, mut l2_ref, mut na_ref, mut nb_ref) = (0f64, 0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot_ref += x * y;
        l2_ref += (x - y) * (x - y);
        na_ref += x * x;
        nb_ref += y * y;
    }
    let cosine_ref = if na_ref == 0.0 || nb_ref == 0.0 {
        0.0
    } else {
        dot_ref / (na_ref.sqrt() * nb_ref.sqrt())
    };
    let rel = |x: f32, reference: f64| {
        let diff = (f64::from(x) - reference).abs() / reference.abs().max(1.0);
        if x.is_finite() && diff.is_finite() {
            diff
        } else {
            f64::INFINITY
        }
    };
    let (d, na, nb) = dot_and_norms(a, b);
    let worst = [
        rel(dot(a, b), dot_ref),
        rel(l2_squared(a, b), l2_ref),
        rel(d, dot_ref),
        rel(na, na_ref),
        rel(nb, nb_ref),
        rel(cosine(a, b), cosine_ref),
    ]
    .into_iter()
    .fold(0f64, |worst, x| if x > worst || x.is_nan() { x } else { worst });
    if worst.is_finite() {
        worst as f32
    } else {
        f32::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_definitions() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let b = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(dot(&a, &b), 165.0);
        assert_eq!(l2_squared(&a, &b), 240.0);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&a, &[0.0; 9]), 0.0);
        assert!(disagreement(&a, &b) < 1e-6);
    }

    /// xorshift64*: values uniform in `[-scale, scale)`.
    struct Rng(u64);

    impl Rng {
        fn vector(&mut self, dims: usize, scale: f32) -> Vec<f32> {
            (0..dims)
                .map(|_| {
                    self.0 ^= self.0 >> 12;
                    self.0 ^= self.0 << 25;
                    self.0 ^= self.0 >> 27;
                    let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
                    (bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
                })
                .collect()
        }
    }

    /// The kernels of this build against the f64 reference of
    /// [`disagreement`], at every length up to 2048, for values in ±1 and
    /// in ±1000.
    #[test]
    fn kernels_match_an_f64_reference_for_every_length_up_to_2048() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for scale in [1.0, 1000.0] {
            let (mut worst, mut at) = (0f32, 0);
            for dims in 1..=2048 {
                let (a, b) = (rng.vector(dims, scale), rng.vector(dims, scale));
                let d = disagreement(&a, &b);
                assert!(
                    d <= 1e-5,
                    "length {dims}, values in ±{scale}: relative difference {d:e}"
                );
                if d > worst {
                    (worst, at) = (d, dims);
                }
            }
            println!("values in ±{scale}: largest relative difference {worst:e} at length {at}");
        }
    }

    /// What the check must catch: a wrong or non-finite output.
    #[test]
    fn disagreement_flags_wrong_and_non_finite_outputs() {
        let a = [1.0, 2.0, 3.0];
        let b = [3.0, 2.0, 1.0];
        assert!(disagreement(&a, &b) < 1e-6);
        // Inputs that make an output overflow f32 (or hold NaN) are reported
        // as infinitely far off, not as NaN that `<=` would let through or
        // `f32::max` would drop.
        assert_eq!(disagreement(&[f32::MAX, f32::MAX], &[1.0, 1.0]), f32::INFINITY);
        assert_eq!(disagreement(&[f32::NAN, 1.0], &[1.0, 1.0]), f32::INFINITY);
        assert_eq!(disagreement(&[1.0, 1.0], &[1.0, f32::INFINITY]), f32::INFINITY);
    }
}
