//! MovieLens-100K rewritten in MovieLens-1M's vocabulary, so a model trained on ML-1M reads
//! ML-100K rows with its own embedding tables (the LEVI transfer of issue 9). Items become
//! ML-1M's ids, "Title (Year)" (about 96% of ML-100K's ratings match); ages become ML-1M's age
//! groups and occupations its occupation codes; users get a `100k_` prefix (no ML-100K user is
//! an ML-1M user); genres move from `class` to `genre`. Unmatched items keep a `100k_item_` id,
//! which the ML-1M vocabulary maps to its unknown row; films that ML-100K lists twice under two
//! ids become the one ML-1M item.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{DataError, Result};

/// The aligned files' stem: `ml-100k-ml1m.{inter,user,item}`.
pub const STEM: &str = "ml-100k-ml1m";

/// What the alignment matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlignReport {
    pub items: usize,
    pub items_matched: usize,
    pub ratings: usize,
    pub ratings_matched: usize,
    pub users: usize,
}

impl AlignReport {
    /// Share of ML-100K's items that matched an ML-1M item.
    pub fn item_share(&self) -> f64 {
        self.items_matched as f64 / self.items.max(1) as f64
    }

    /// Share of ML-100K's ratings whose item matched.
    pub fn rating_share(&self) -> f64 {
        self.ratings_matched as f64 / self.ratings.max(1) as f64
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io { path: path.to_path_buf(), source }
}

/// A RecBole atomic file: header fields (names without `:type`) and rows, CRLF tolerated.
struct Atomic {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Atomic {
    fn read(path: &Path) -> Result<Atomic> {
        let text = fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(source.kind(), format!("{source} (fetch it with `recforge data fetch --only ml-100k,ml-1m`)")),
        })?;
        let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
        let header: Vec<String> = lines
            .next()
            .ok_or_else(|| DataError::EmptyFile { path: path.to_path_buf() })?
            .split('\t')
            .map(|h| h.split(':').next().unwrap_or(h).to_string())
            .collect();
        let mut rows = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            let row: Vec<String> = line.split('\t').map(str::to_string).collect();
            if row.len() != header.len() {
                return Err(DataError::FieldCount { path: path.to_path_buf(), line: i as u64 + 2, expected: header.len(), found: row.len() });
            }
            rows.push(row);
        }
        Ok(Atomic { path: path.to_path_buf(), header, rows })
    }

    fn column(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| DataError::MissingColumn {
            path: self.path.clone(),
            column: name.to_string(),
            available: self.header.clone(),
        })
    }
}

/// ML-1M's age groups: 1 (under 18), 18, 25, 35, 45, 50, 56 (56+).
fn age_group(age: u32) -> u32 {
    match age {
        0..=17 => 1,
        18..=24 => 18,
        25..=34 => 25,
        35..=44 => 35,
        45..=49 => 45,
        50..=55 => 50,
        _ => 56,
    }
}

/// ML-1M's occupation code for an ML-100K occupation (ML-1M README's list; "student" splits
/// by age into K-12 (10) and college/grad (4); no counterpart → 0, "other").
fn occupation_code(occupation: &str, age: u32) -> u32 {
    match occupation {
        "educator" | "librarian" => 1,
        "artist" => 2,
        "administrator" => 3,
        "student" if age < 18 => 10,
        "student" => 4,
        "doctor" | "healthcare" => 6,
        "executive" => 7,
        "homemaker" => 9,
        "lawyer" => 11,
        "programmer" => 12,
        "retired" => 13,
        "marketing" | "salesman" => 14,
        "scientist" => 15,
        "engineer" | "technician" => 17,
        "writer" => 20,
        _ => 0,
    }
}

fn write_file(path: &Path, header: &str, rows: impl Iterator<Item = String>) -> Result<()> {
    let mut w = std::io::BufWriter::new(fs::File::create(path).map_err(io(path))?);
    writeln!(w, "{header}").map_err(io(path))?;
    for row in rows {
        writeln!(w, "{row}").map_err(io(path))?;
    }
    w.flush().map_err(io(path))
}

/// Writes `out/ml-100k-ml1m.{inter,user,item}` from the RecBole ML-100K files in `ml100k`,
/// matching item ids against `ml1m/ml-1m.item`.
pub fn align(ml100k: &Path, ml1m: &Path, out: &Path) -> Result<AlignReport> {
    let known: HashSet<String> = {
        let items = Atomic::read(&ml1m.join("ml-1m.item"))?;
        let id = items.column("item_id")?;
        items.rows.into_iter().map(|mut r| r.swap_remove(id)).collect()
    };
    let items = Atomic::read(&ml100k.join("ml-100k.item"))?;
    let (id, title, year, class) =
        (items.column("item_id")?, items.column("movie_title")?, items.column("release_year")?, items.column("class")?);
    let mut key_of: HashMap<String, String> = HashMap::new();
    let mut item_rows = Vec::new();
    let mut written: HashSet<String> = HashSet::new();
    let mut items_matched = 0;
    for (i, r) in items.rows.iter().enumerate() {
        let key = format!("{} ({})", r[title], r[year]);
        let key = if known.contains(&key) {
            items_matched += 1;
            key
        } else {
            format!("100k_item_{}", r[id])
        };
        let year_value = if r[year].parse::<u32>().is_ok() { r[year].as_str() } else { "" };
        if key_of.insert(r[id].clone(), key.clone()).is_some() {
            return Err(DataError::InvalidValue { path: items.path.clone(), line: i as u64 + 2, field: "item_id".into(), message: format!("{:?} appears twice", r[id]) });
        }
        // ML-100K lists a few films twice under two ids; both map to the one ML-1M item.
        if written.insert(key.clone()) {
            item_rows.push(format!("{key}\t{}\t{year_value}\t{}", r[title], r[class]));
        }
    }

    let users = Atomic::read(&ml100k.join("ml-100k.user"))?;
    let (uid, age, gender, occupation, zip) =
        (users.column("user_id")?, users.column("age")?, users.column("gender")?, users.column("occupation")?, users.column("zip_code")?);
    let mut user_rows = Vec::new();
    for (i, r) in users.rows.iter().enumerate() {
        let years: u32 = r[age].parse().map_err(|_| DataError::InvalidValue {
            path: users.path.clone(),
            line: i as u64 + 2,
            field: "age".into(),
            message: format!("{:?} is not a whole number", r[age]),
        })?;
        user_rows.push(format!(
            "100k_{}\t{}\t{}\t{}\t{}",
            r[uid],
            age_group(years),
            r[gender],
            occupation_code(&r[occupation], years),
            r[zip]
        ));
    }

    let inter = Atomic::read(&ml100k.join("ml-100k.inter"))?;
    let (u, it, rating, ts) = (inter.column("user_id")?, inter.column("item_id")?, inter.column("rating")?, inter.column("timestamp")?);
    let mut inter_rows = Vec::with_capacity(inter.rows.len());
    let mut ratings_matched = 0;
    for (i, r) in inter.rows.iter().enumerate() {
        let key = key_of.get(&r[it]).ok_or_else(|| DataError::InvalidValue {
            path: inter.path.clone(),
            line: i as u64 + 2,
            field: "item_id".into(),
            message: format!("{:?} is not in ml-100k.item", r[it]),
        })?;
        ratings_matched += usize::from(!key.starts_with("100k_item_"));
        inter_rows.push(format!("100k_{}\t{key}\t{}\t{}", r[u], r[rating], r[ts]));
    }

    fs::create_dir_all(out).map_err(io(out))?;
    write_file(&out.join(format!("{STEM}.item")), "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token", item_rows.into_iter())?;
    write_file(&out.join(format!("{STEM}.user")), "user_id:token\tage:float\tgender:token\toccupation:float\tzip_code:token", user_rows.iter().cloned())?;
    write_file(&out.join(format!("{STEM}.inter")), "user_id:token\titem_id:token\trating:float\ttimestamp:float", inter_rows.into_iter())?;
    Ok(AlignReport { items: items.rows.len(), items_matched, ratings: inter.rows.len(), ratings_matched, users: user_rows.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["ml-100k", "ml-1m"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        write(
            &dir.path().join("ml-1m"),
            "ml-1m.item",
            "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token\r\nToy Story (1995)\tToy Story\t1995\tAnimation Children's Comedy\r\n",
        );
        let k = dir.path().join("ml-100k");
        write(
            &k,
            "ml-100k.item",
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation Children's Comedy\n2\tUnknown Film\tunknown\tDrama\n3\tToy Story\t1995\tAnimation Children's Comedy\n",
        );
        write(&k, "ml-100k.user", "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n1\t24\tM\ttechnician\t85711\n2\t15\tF\tstudent\t94043\n");
        write(&k, "ml-100k.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t1\t5\t100\n2\t2\t3\t200\n2\t3\t4\t300\n");
        dir
    }

    #[test]
    fn items_users_and_ratings_are_rewritten_in_ml1m_vocabulary() {
        let dir = fixture();
        let out = dir.path().join("out");
        let report = align(&dir.path().join("ml-100k"), &dir.path().join("ml-1m"), &out).unwrap();
        assert_eq!(report, AlignReport { items: 3, items_matched: 2, ratings: 3, ratings_matched: 2, users: 2 });
        let read = |ext: &str| fs::read_to_string(out.join(format!("{STEM}.{ext}"))).unwrap();
        assert_eq!(
            read("item"),
            "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token\n\
             Toy Story (1995)\tToy Story\t1995\tAnimation Children's Comedy\n\
             100k_item_2\tUnknown Film\t\tDrama\n"
        );
        // Age 24 → group 18, technician → 17; age 15 → group 1, a student under 18 → K-12 (10).
        assert_eq!(
            read("user"),
            "user_id:token\tage:float\tgender:token\toccupation:float\tzip_code:token\n100k_1\t18\tM\t17\t85711\n100k_2\t1\tF\t10\t94043\n"
        );
        assert_eq!(
            read("inter"),
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
             100k_1\tToy Story (1995)\t5\t100\n100k_2\t100k_item_2\t3\t200\n100k_2\tToy Story (1995)\t4\t300\n"
        );
    }

    #[test]
    fn a_rating_of_an_unknown_item_names_file_line_and_field() {
        let dir = fixture();
        let k = dir.path().join("ml-100k");
        write(&k, "ml-100k.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t1\t5\t100\n1\t99\t5\t100\n");
        let err = format!("{:#}", align(&k, &dir.path().join("ml-1m"), &dir.path().join("out")).unwrap_err());
        assert!(err.contains("ml-100k.inter:3: field \"item_id\": \"99\""), "{err}");
    }

    #[test]
    fn age_groups_follow_ml1m() {
        assert_eq!([17, 18, 24, 25, 44, 45, 50, 55, 56, 73].map(age_group), [1, 18, 18, 25, 35, 45, 50, 50, 56, 56]);
    }
}
