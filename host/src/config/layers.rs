//! How the settings' sources are stacked: the TOML file under the flags
//! and `ZERODB_*` variables (clap already puts a flag over its variable).
//! Every settings struct is both `clap::Args` and serde: a field is declared
//! once and read under its flag, its variable and its snake_case file key.
//! Both layers go through `toml::Table`, where an unset field is absent, so
//! stacking them is one `extend` for every struct.

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// The file's settings, every key checked against `Known`'s fields (which
/// are also its clap argument ids) and every value against its type.
pub fn read_file<Known>(path: Option<&Path>) -> anyhow::Result<toml::Table>
where
    Known: clap::Args + DeserializeOwned,
{
    let Some(path) = path else {
        return Ok(toml::Table::new());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parse = || -> anyhow::Result<toml::Table> {
        let table: toml::Table = toml::from_str(&text)?;
        let command = Known::augment_args(clap::Command::new("settings"));
        for key in table.keys() {
            if !command.get_arguments().any(|arg| arg.get_id() == key.as_str()) {
                bail!("unknown setting `{key}`");
            }
        }
        // Parsed from the text, not the table, so that a wrong type is
        // reported with its line.
        toml::from_str::<Known>(&text)?;
        Ok(table)
    };
    parse().with_context(|| format!("parsing {}", path.display()))
}

/// `flags` (the values set by a flag or variable) over the `file`'s.
pub fn stack<T: Serialize + DeserializeOwned>(flags: &T, file: &toml::Table) -> anyhow::Result<T> {
    let mut merged = file.clone();
    merged.extend(toml::Table::try_from(flags)?);
    Ok(merged.try_into()?)
}

/// Serializes a switch only when it is on: off is "not set", so a switch
/// given in the file stays on.
pub fn is_off(on: &bool) -> bool {
    !on
}
