//! Reference-based text metrics for Rec-SAVER scoring: sentence BLEU-4 and ROUGE-L.
//!
//! Both work on the same tokens: [`tokenize`] lower-cases and splits on every character that is
//! not alphanumeric (so punctuation never counts as a match and "Movie," equals "movie").
//!
//! - [`bleu4`]: Papineni et al. (2002) sentence BLEU with uniform weights over 1- to 4-grams,
//!   n-gram counts clipped by their maximum count in any one reference, brevity penalty against
//!   the reference length closest to the candidate's (the shorter one on a tie). Smoothing:
//!   "BLEU+1" of Lin & Och (2004) — orders 2-4 add 1 to matches and to totals; unigrams are not
//!   smoothed, so a candidate sharing no word with any reference scores exactly 0.
//! - [`rouge_l`]: Lin (2004) ROUGE-L, the F1 of precision LCS/|candidate| and recall
//!   LCS/|reference| (β = 1), taking the best reference when there are several.

/// Lower-cased alphanumeric tokens of `text`.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
}

/// The n-grams of `tokens` with their counts.
fn ngram_counts(tokens: &[String], n: usize) -> std::collections::HashMap<&[String], usize> {
    let mut counts = std::collections::HashMap::new();
    if tokens.len() >= n {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// BLEU-4 of `candidate` against `references` (tokens), in [0, 1]; 0 when the candidate or
/// every reference is empty.
pub fn bleu4_tokens(candidate: &[String], references: &[Vec<String>]) -> f64 {
    let references: Vec<&Vec<String>> = references.iter().filter(|r| !r.is_empty()).collect();
    if candidate.is_empty() || references.is_empty() {
        return 0.0;
    }
    let mut log_precision = 0.0;
    for n in 1..=4 {
        let cand = ngram_counts(candidate, n);
        let total: usize = cand.values().sum();
        let reference_counts: Vec<_> = references.iter().map(|r| ngram_counts(r, n)).collect();
        let matched: usize = cand
            .iter()
            .map(|(gram, &count)| {
                let max_ref = reference_counts.iter().map(|c| c.get(gram).copied().unwrap_or(0)).max().unwrap_or(0);
                count.min(max_ref)
            })
            .sum();
        let (matched, total) = if n == 1 { (matched as f64, total as f64) } else { (matched as f64 + 1.0, total as f64 + 1.0) };
        if matched == 0.0 {
            return 0.0;
        }
        log_precision += 0.25 * (matched / total).ln();
    }
    let c = candidate.len() as f64;
    let r = references
        .iter()
        .map(|r| r.len())
        .min_by_key(|&len| (len.abs_diff(candidate.len()), len))
        .unwrap_or(0) as f64;
    let brevity = if c > r { 1.0 } else { (1.0 - r / c).exp() };
    brevity * log_precision.exp()
}

/// BLEU-4 of `candidate` against `references` (texts, tokenised by [`tokenize`]).
pub fn bleu4(candidate: &str, references: &[String]) -> f64 {
    let refs: Vec<Vec<String>> = references.iter().map(|r| tokenize(r)).collect();
    bleu4_tokens(&tokenize(candidate), &refs)
}

/// Length of the longest common subsequence of two token lists.
pub fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut previous = vec![0usize; b.len() + 1];
    let mut current = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y { previous[j] + 1 } else { current[j].max(previous[j + 1]) };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// ROUGE-L F1 of `candidate` against one reference (tokens).
pub fn rouge_l_tokens(candidate: &[String], reference: &[String]) -> f64 {
    let lcs = lcs_len(candidate, reference) as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let precision = lcs / candidate.len() as f64;
    let recall = lcs / reference.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// ROUGE-L F1 of `candidate` against its best reference; 0 without references.
pub fn rouge_l(candidate: &str, references: &[String]) -> f64 {
    let cand = tokenize(candidate);
    references.iter().map(|r| rouge_l_tokens(&cand, &tokenize(r))).fold(0.0, f64::max)
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}
