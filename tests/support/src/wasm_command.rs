//! Runs a wasi:cli command component (such as `kernel-check`) in wasmtime and
//! captures what it prints. Shared by the tests and the kernel benchmark.
//! Panics when the component cannot be loaded or traps.

use std::path::{Path, PathBuf};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

struct Ctx {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The path of command `name` that `scripts/build --all` builds into the
/// target directory of the host binary (it is not checked to exist).
pub fn built_component(name: &str) -> PathBuf {
    crate::harness::bin()
        .parent()
        .unwrap()
        .join(format!("../wasm32-wasip2/release/{name}.wasm"))
}

/// Runs `component` with `args`; returns its exit code and standard output.
pub fn run(component: &Path, args: &[&str]) -> (i32, String) {
    let engine = Engine::new(&Config::new()).unwrap();
    let component = Component::from_file(&engine, component)
        .unwrap_or_else(|e| panic!("loading {}: {e} (run scripts/build --all)", component.display()));
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let stdout = MemoryOutputPipe::new(1 << 20);
    let mut argv = vec!["command"];
    argv.extend_from_slice(args);
    let wasi = WasiCtx::builder().args(&argv).stdout(stdout.clone()).build();
    let mut store = Store::new(
        &engine,
        Ctx {
            wasi,
            table: ResourceTable::new(),
        },
    );
    let command = wasmtime_wasi::p2::bindings::sync::Command::instantiate(&mut store, &component, &linker).unwrap();
    let code = match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(e) => e
            .downcast_ref::<I32Exit>()
            .map(|e| e.0)
            .unwrap_or_else(|| panic!("trap: {e:?}")),
    };
    (code, String::from_utf8_lossy(&stdout.contents()).into_owned())
}
