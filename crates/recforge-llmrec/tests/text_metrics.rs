//! BLEU-4 and ROUGE-L on cases computed by hand (the arithmetic is in the comments).

use recforge_llmrec::text_metrics::{bleu4, cosine, lcs_len, rouge_l, tokenize};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn refs(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn tokenize_lowercases_and_drops_punctuation() {
    assert_eq!(tokenize("Toy Story (1995), great!"), vec!["toy", "story", "1995", "great"]);
    assert!(tokenize(" ... ").is_empty());
}

#[test]
fn identical_texts_score_one() {
    let text = "the user loves animated family films";
    assert!(close(bleu4(text, &refs(&[text])), 1.0));
    assert!(close(rouge_l(text, &refs(&[text])), 1.0));
}

#[test]
fn bleu_and_rouge_of_the_cat_on_the_mat() {
    // cand: the cat sat on the mat / ref: the cat is on the mat (6 tokens each, BP = 1)
    // p1 = 5/6 (the×2, cat, on, mat); p2 = (3+1)/(5+1) (the-cat, on-the, the-mat);
    // p3 = (1+1)/(4+1) (on-the-mat); p4 = (0+1)/(3+1).
    let expected = (5.0 / 6.0 * 4.0 / 6.0 * 2.0 / 5.0 * 1.0 / 4.0f64).powf(0.25);
    assert!(close(bleu4("the cat sat on the mat", &refs(&["the cat is on the mat"])), expected));
    // LCS = the cat on the mat (5): P = R = 5/6.
    assert!(close(rouge_l("the cat sat on the mat", &refs(&["the cat is on the mat"])), 5.0 / 6.0));
}

#[test]
fn brevity_penalty_applies_to_short_candidates() {
    // cand "the cat" (2) vs ref of 6: all precisions 1 (orders 3-4: (0+1)/(0+1)); BP = e^(1-6/2).
    assert!(close(bleu4("the cat", &refs(&["the cat sat on the mat"])), (-2.0f64).exp()));
    // LCS 2: P = 1, R = 1/3 → F = 2·(1/3)/(4/3) = 1/2.
    assert!(close(rouge_l("the cat", &refs(&["the cat sat on the mat"])), 0.5));
}

#[test]
fn counts_are_clipped_by_the_best_reference() {
    // cand the×4; refs "the cat" (2), "the the dog" (3).
    // p1 = min(4, 2)/4; p2 = (1+1)/(3+1); p3 = (0+1)/(2+1); p4 = (0+1)/(1+1);
    // closest reference length to 4 is 3 < 4 → BP = 1.
    let expected = (0.5 * 0.5 * (1.0 / 3.0) * 0.5f64).powf(0.25);
    let references = refs(&["the cat", "the the dog"]);
    assert!(close(bleu4("the the the the", &references), expected));
    // ROUGE-L best reference: "the the dog" LCS 2 → P 1/2, R 2/3 → F 4/7 (vs 1/3 for "the cat").
    assert!(close(rouge_l("the the the the", &references), 4.0 / 7.0));
}

#[test]
fn closest_reference_length_breaks_ties_toward_the_shorter() {
    // c = 4; references of 3 and 5 are equally close → r = 3 → BP = 1 (with r = 5 it would be
    // e^(1-5/4)). Every n-gram of the candidate is in the second reference.
    assert!(close(bleu4("a b c d", &refs(&["a b c", "a b c d e"])), 1.0));
}

#[test]
fn no_shared_word_scores_zero() {
    assert_eq!(bleu4("completely different words", &refs(&["the cat sat on the mat"])), 0.0);
    assert_eq!(rouge_l("completely different words", &refs(&["the cat sat on the mat"])), 0.0);
    assert_eq!(bleu4("", &refs(&["x"])), 0.0);
    assert_eq!(rouge_l("a b", &[]), 0.0);
}

#[test]
fn lcs_and_cosine_on_small_cases() {
    let t = |s: &str| tokenize(s);
    assert_eq!(lcs_len(&t("a b c d e"), &t("a c e")), 3);
    assert_eq!(lcs_len(&t("a b"), &t("")), 0);
    assert!(close(cosine(&[1.0, 0.0], &[1.0, 1.0]), 1.0 / 2f64.sqrt()));
    assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
}
