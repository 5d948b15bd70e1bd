//! The edge's SIMD128 kernels, run inside wasm, agree with the scalar ones.

use crate::wasm_command::{built_component, run};

#[test]
fn wasm_simd_kernels_match_scalar_for_every_length_up_to_2048() {
    let (code, out) = run(&built_component("kernel-check"), &["verify"]);
    assert!(
        out.contains("simd128 true"),
        "kernel-check was built without SIMD128:\n{out}"
    );
    let worst: f32 = out
        .lines()
        .find_map(|l| l.strip_prefix("max_relative_difference "))
        .expect("no result line")
        .parse()
        .unwrap();
    assert!(worst <= 1e-5, "SIMD vs scalar differ by {worst}");
    assert_eq!(code, 0, "{out}");
}
