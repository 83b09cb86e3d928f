//! `--set key.path=value` overrides for any TOML config, applied before the config is parsed
//! into its typed struct (so an override is validated exactly like the file itself).

use crate::error::{DataError, Result};

/// Applies each `key.path=value` in `overrides` to `doc`, in order. The value is read as a
/// TOML value (`3`, `0.5`, `true`, `"text"`, `[1, 2]`); anything that does not parse as one
/// is taken as a plain string, so `--set model.kind=mlp` needs no quotes. Missing tables on
/// the path are created; a path through a non-table value is an error.
pub fn apply_overrides(doc: &mut toml::Table, overrides: &[String]) -> Result<()> {
    for raw in overrides {
        let (path, value) = raw
            .split_once('=')
            .ok_or_else(|| DataError::Invalid(format!("--set {raw:?}: expected key.path=value, e.g. --set train.lr=0.01")))?;
        let keys: Vec<&str> = path.trim().split('.').map(str::trim).collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(DataError::Invalid(format!("--set {raw:?}: the key path {path:?} has an empty part")));
        }
        let value = parse_value(value.trim());
        let (last, parents) = keys.split_last().expect("split on '.' yields at least one part");
        let mut table = &mut *doc;
        for (depth, key) in parents.iter().enumerate() {
            let entry = table.entry(key.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry.as_table_mut().ok_or_else(|| {
                DataError::Invalid(format!("--set {raw:?}: {} is a value, not a table", keys[..=depth].join(".")))
            })?;
        }
        table.insert(last.to_string(), value);
    }
    Ok(())
}

/// Reads `text` as a TOML value, else as a bare string.
fn parse_value(text: &str) -> toml::Value {
    let wrapped = format!("v = {text}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut table) => table.remove("v").unwrap_or_else(|| toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn values_are_typed_and_bare_words_are_strings() {
        let mut d = doc("[train]\nlr = 0.1\n");
        let sets = ["train.lr=0.01", "train.epochs=3", "model.kind=mlp", "train.shuffle=false", "model.hidden=[64, 32]", "name=\"a b\""];
        apply_overrides(&mut d, &sets.map(String::from)).unwrap();
        assert_eq!(d["train"]["lr"].as_float(), Some(0.01));
        assert_eq!(d["train"]["epochs"].as_integer(), Some(3));
        assert_eq!(d["train"]["shuffle"].as_bool(), Some(false));
        assert_eq!(d["model"]["kind"].as_str(), Some("mlp"));
        assert_eq!(d["model"]["hidden"].as_array().map(Vec::len), Some(2));
        assert_eq!(d["name"].as_str(), Some("a b"));
    }

    #[test]
    fn bad_overrides_say_what_is_wrong() {
        let mut d = doc("lr = 0.1\n");
        let error = apply_overrides(&mut d, &["lr".to_string()]).unwrap_err().to_string();
        assert!(error.contains("expected key.path=value"), "{error}");
        let error = apply_overrides(&mut d, &["lr.x=1".to_string()]).unwrap_err().to_string();
        assert!(error.contains("lr is a value, not a table"), "{error}");
        let error = apply_overrides(&mut d, &["a..b=1".to_string()]).unwrap_err().to_string();
        assert!(error.contains("empty part"), "{error}");
    }

    #[test]
    fn later_overrides_win() {
        let mut d = doc("");
        apply_overrides(&mut d, &["a.b=1".to_string(), "a.b=2".to_string()]).unwrap();
        assert_eq!(d["a"]["b"].as_integer(), Some(2));
    }
}
