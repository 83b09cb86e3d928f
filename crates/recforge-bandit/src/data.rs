//! Rating logs for the offline model and the simulator: RecBole atomic files (MovieLens)
//! read through recforge-data, with user and item ids interned to dense indices.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use recforge_data::error::DataError;
use recforge_data::reader::{Format, open_reader};

/// One rating event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub user: u32,
    pub item: u32,
    pub rating: f32,
    pub timestamp: i64,
}

/// A rating log sorted by time, with the original id of every user and item index.
#[derive(Debug, Clone, Default)]
pub struct Ratings {
    pub path: PathBuf,
    pub users: Vec<String>,
    pub items: Vec<String>,
    pub events: Vec<Rating>,
}

fn intern(map: &mut HashMap<String, u32>, names: &mut Vec<String>, key: &str) -> u32 {
    if let Some(&id) = map.get(key) {
        return id;
    }
    let id = names.len() as u32;
    map.insert(key.to_string(), id);
    names.push(key.to_string());
    id
}

impl Ratings {
    /// The `.inter` file a `--dataset`/`--data` value names: `ml-1m` (also `ml1m`) and
    /// `ml-100k` (also `ml100k`) under the data folder, anything else a path.
    pub fn locate(data: &str) -> Result<PathBuf, DataError> {
        let path = match data {
            "ml-1m" | "ml1m" => recforge_data::paths::data_dir().join("ml-1m/ml-1m.inter"),
            "ml-100k" | "ml100k" => recforge_data::paths::data_dir().join("ml-100k/ml-100k.inter"),
            other => PathBuf::from(other),
        };
        if !path.is_file() {
            return Err(DataError::Invalid(format!(
                "{}: ratings file not found; run `recforge data fetch --only ml-1m` or pass --data FILE.inter",
                path.display()
            )));
        }
        Ok(path)
    }

    /// Reads a RecBole `.inter` file with `user_id`, `item_id`, `rating` and `timestamp`
    /// columns; events come back sorted by timestamp (ties keep file order).
    pub fn read_recbole(path: &Path) -> Result<Ratings, DataError> {
        let mut reader = open_reader(path, Format::Recbole, None, true)?;
        let c_user = reader.column_index("user_id")?;
        let c_item = reader.column_index("item_id")?;
        let c_rating = reader.column_index("rating")?;
        let c_ts = reader.column_index("timestamp")?;
        let (mut user_ids, mut item_ids) = (HashMap::new(), HashMap::new());
        let mut out = Ratings { path: path.to_path_buf(), ..Ratings::default() };
        for row in reader.by_ref() {
            let row = row?;
            let number = |c: usize, field: &str| -> Result<f64, DataError> {
                let cell = row.fields[c].trim();
                let value: f64 = cell.parse().map_err(|_| DataError::NotANumber { path: path.to_path_buf(), line: row.line, field: field.to_string(), value: cell.to_string() })?;
                if value.is_finite() { Ok(value) } else { Err(DataError::NonFinite { path: path.to_path_buf(), line: row.line, field: field.to_string() }) }
            };
            let rating = number(c_rating, "rating")? as f32;
            let timestamp = number(c_ts, "timestamp")? as i64;
            let user = intern(&mut user_ids, &mut out.users, &row.fields[c_user]);
            let item = intern(&mut item_ids, &mut out.items, &row.fields[c_item]);
            out.events.push(Rating { user, item, rating, timestamp });
        }
        if out.events.is_empty() {
            return Err(DataError::EmptyFile { path: path.to_path_buf() });
        }
        out.events.sort_by_key(|e| e.timestamp);
        Ok(out)
    }
}
