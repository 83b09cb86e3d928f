//! `$DATA/` paths resolve against `RECFORGE_DATA`, else `<cwd>/data`. Alone in its own test
//! binary because it sets a process-wide environment variable.

use std::path::Path;

use recforge_data::Schema;

const TEXT: &str = r#"
[source]
path = "$DATA/ml-1m/ml-1m.inter"
[[joins]]
path = "$DATA/ml-1m/ml-1m.user"
on = "user_id"
[[features]]
name = "user_id"
kind = "categorical"
"#;

#[test]
fn data_prefix_uses_the_environment_then_the_working_directory() {
    // SAFETY: this is the only test in this binary, so no other thread reads the environment.
    unsafe { std::env::remove_var("RECFORGE_DATA") };
    let schema = Schema::from_toml_str(TEXT, Path::new("/elsewhere")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(schema.source.path, cwd.join("data/ml-1m/ml-1m.inter"));

    // SAFETY: as above.
    unsafe { std::env::set_var("RECFORGE_DATA", "/srv/recdata") };
    let schema = Schema::from_toml_str(TEXT, Path::new("/elsewhere")).unwrap();
    assert_eq!(
        schema.source.path,
        Path::new("/srv/recdata/ml-1m/ml-1m.inter")
    );
    assert_eq!(
        schema.joins[0].path,
        Path::new("/srv/recdata/ml-1m/ml-1m.user")
    );
    assert_eq!(schema.name, "ml-1m");
}
