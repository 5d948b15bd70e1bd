//! The edge's SIMD128 kernels, run inside wasm, agree with an f64 reference.

use crate::wasm_command::{built_component, run};

#[test]
fn wasm_simd_kernels_match_scalar_for_every_length_up_to_2048() {
    let (code, out) = run(&built_component("kernel-check"), &["verify"]);
    assert!(
        out.contains("simd128 true"),
        "kernel-check was built without SIMD128:\n{out}"
    );
    let line = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} line:\n{out}"))
    };
    let worst: f32 = line("max_relative_difference")
        .parse()
        .unwrap_or_else(|e| panic!("max_relative_difference is not a number ({e}):\n{out}"));
    let at = line("at_length");
    // "NaN" and "inf" parse; `worst <= 1e-5` alone would let a NaN through.
    assert!(
        worst.is_finite(),
        "a SIMD kernel gave a non-finite result ({worst}) at length {at}:\n{out}"
    );
    assert!(
        worst <= 1e-5,
        "SIMD vs the f64 reference differ by {worst:e} at length {at}"
    );
    assert_eq!(code, 0, "{out}");
}
