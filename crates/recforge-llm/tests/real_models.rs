//! The runtime on the real models of DATA.md (SmolLM2-135M-Instruct Q4_1 GGUF and
//! all-MiniLM-L6-v2). The models are fetched, not shipped, so these tests are `#[ignore]`d;
//! `scripts/test.sh` fetches them and runs every `fetched_*` test with `--ignored`, and a
//! missing file is a failure. By hand: `cargo test --workspace --test real_models -- --ignored`.

use std::path::PathBuf;

use recforge_llm::{CausalLm, GenerationParams, SentenceEncoder};

#[path = "support/bert_reference.rs"]
mod bert_reference;
use bert_reference::{BertReference, max_diff};

fn data(rel: &str) -> PathBuf {
    let root = std::env::var_os("RECFORGE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data"));
    let path = root.join(rel);
    assert!(path.exists(), "{} is missing: run `recforge data fetch --only smollm2,minilm` (or set RECFORGE_DATA)", path.display());
    path
}

fn smollm() -> CausalLm {
    CausalLm::load(&data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap()
}

/// A yes/no quality prompt in the spirit of Ask-LLM (the exact prompt lives in recforge-select).
fn quality_prompt(lm: &CausalLm, doc: &str) -> String {
    lm.chat_prompt(&format!(
        "###\n{doc}\n###\n\nDoes the previous paragraph demarcated within ### and ### contain informative signal for pre-training a large-language model? An informative datapoint should be well-formatted, contain some usable knowledge of the world, and strictly NOT have any harmful, racist, sexist, etc. content.\n\nOPTIONS:\n- yes\n- no"
    ))
}

const CLEAN: &str = "The Amazon River in South America is the largest river by discharge volume of water in the world. It flows for about 6,400 kilometres from the Andes mountains of Peru to the Atlantic Ocean, and its basin covers about seven million square kilometres across nine countries.";
const SPAM: &str = "CONGRATULATIONS!!! U have WON a FREE entry 2 our £1000 prize draw!!! txt WIN to 80086 NOW to claim ur cash prize, limited time only, click http://win-now.biz, unsubscribe STOP";

#[test]
#[ignore = "needs the fetched models (recforge data fetch --only smollm2,minilm); CI runs it"]
fn fetched_smollm_tokenizer_round_trips_and_chatml_tokens_are_single() {
    let lm = smollm();
    assert_eq!(lm.tokenizer().get_vocab_size(true), 49_152);
    for text in [CLEAN, SPAM, "naïve café, 2024-11-29: 3.14159 ∑ 日本"] {
        assert_eq!(lm.decode(&lm.encode(text).unwrap()).unwrap(), text);
    }
    for special in ["<|im_start|>", "<|im_end|>", "<|endoftext|>"] {
        assert_eq!(lm.encode(special).unwrap().len(), 1, "{special}");
    }
    // Known ids of SmolLM2's vocabulary.
    assert_eq!(lm.encode("<|im_start|>").unwrap(), vec![1]);
    assert_eq!(lm.encode("<|im_end|>").unwrap(), vec![2]);
}

#[test]
#[ignore = "needs the fetched models (recforge data fetch --only smollm2,minilm); CI runs it"]
fn fetched_smollm_prefers_the_encyclopedic_paragraph_over_spam() {
    let lm = smollm();
    let prompts = vec![quality_prompt(&lm, CLEAN), quality_prompt(&lm, SPAM)];
    let p = lm.first_token_probability(&prompts, &["yes", "Yes", " yes", " Yes"]).unwrap();
    eprintln!("P(yes | clean) = {:.4}, P(yes | spam) = {:.4}", p[0], p[1]);
    assert!(p[0] > p[1], "clean {} <= spam {}", p[0], p[1]);
    // Batched equals one at a time on the real model too.
    for (i, prompt) in prompts.iter().enumerate() {
        let single = lm.first_token_probability(std::slice::from_ref(prompt), &["yes", "Yes", " yes", " Yes"]).unwrap()[0];
        assert!((single - p[i]).abs() < 1e-4, "{single} vs {}", p[i]);
    }
    // Perplexity: clean text is likelier per token than spam.
    let ll = lm.log_likelihood(&[CLEAN.to_string(), SPAM.to_string()]).unwrap();
    let (clean, spam) = (ll[0].0 / ll[0].1 as f64, ll[1].0 / ll[1].1 as f64);
    eprintln!("mean log p: clean {clean:.3}, spam {spam:.3}");
    assert!(clean > spam);
    let answer = lm
        .generate(&lm.chat_prompt("What is the capital of France?"), &GenerationParams { max_tokens: 12, ..Default::default() })
        .unwrap();
    eprintln!("generated: {answer:?}");
    assert!(answer.contains("Paris"), "{answer}");
}

#[test]
#[ignore = "needs the fetched models (recforge data fetch --only smollm2,minilm); CI runs it"]
fn fetched_minilm_paraphrases_are_closer_than_unrelated_sentences() {
    let dir = data("models/all-minilm-l6-v2");
    let enc = SentenceEncoder::load(&dir).unwrap();
    assert_eq!(enc.dim(), 384);
    let texts: Vec<String> = [
        "A man is playing a guitar on stage.",
        "Someone performs music with a guitar in front of an audience.",
        "The stock market fell sharply after the interest rate announcement.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let e = enc.embed(&texts).unwrap();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let (para, unrelated) = (cos(&e[0], &e[1]), cos(&e[0], &e[2]));
    eprintln!("cosine paraphrase {para:.3}, unrelated {unrelated:.3}");
    assert!(para > unrelated + 0.3);
}

#[test]
#[ignore = "needs the fetched models (recforge data fetch --only minilm); CI runs it"]
fn fetched_minilm_packed_matches_candle_and_is_independent_of_batch_mates() {
    let dir = data("models/all-minilm-l6-v2");
    let enc = SentenceEncoder::load(&dir).unwrap();
    let reference = BertReference::load(&dir);
    let short = "The cat sat on the mat.".to_string();
    let long = CLEAN.repeat(2); // ~120 tokens against the short sentence's 8
    let texts = vec![long.clone(), short.clone(), "Rain is expected tomorrow.".to_string()];
    let batch = enc.embed(&texts).unwrap();
    let alone = enc.embed(std::slice::from_ref(&short)).unwrap().remove(0);
    let d = max_diff(&batch[1], &alone);
    assert!(d < 1e-4, "the short sentence's embedding moved by {d} next to a long one");
    for (text, v) in texts.iter().zip(&batch) {
        let d = max_diff(v, &reference.embed(text));
        assert!(d < 1e-4, "{text:?}: packed vs candle BertModel differ by {d}");
    }
}

#[cfg(feature = "llama-cpp")]
fn smollm_on_llama_cpp() -> CausalLm {
    let options = recforge_llm::LoadOptions { backend: recforge_llm::Backend::LlamaCpp, ..Default::default() };
    CausalLm::load_with(&data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"), options).unwrap()
}

#[test]
#[cfg(feature = "llama-cpp")]
#[ignore = "needs the fetched models (recforge data fetch --only smollm2); CI runs it"]
fn fetched_llama_cpp_greedy_tokens_and_answer_probabilities_follow_candle() {
    // candle runs the Q4_1 weights dequantised to f32; llama.cpp runs Q4_1 × 8-bit activations
    // with an f16 KV cache, so the two greedy texts may part where two tokens are nearly tied.
    // Asserted: they agree up to the first step where they part, and at that step both engines
    // see a near tie (the two tokens' logits within NEAR_TIE of each other) and rank the two
    // tokens within NEAR_TIE of each other's scores.
    const NEAR_TIE: f32 = 0.75;
    let (candle, cpp) = (smollm(), smollm_on_llama_cpp());
    let params = GenerationParams { max_tokens: 16, ..Default::default() };
    let mut identical = 0;
    for question in ["What is the capital of France?", "Name three colours of the rainbow.", "Write one sentence about the sea."] {
        let prompt = candle.chat_prompt(question);
        let (a, b) = (candle.generate(&prompt, &params).unwrap(), cpp.generate(&prompt, &params).unwrap());
        eprintln!("candle:    {a:?}\nllama.cpp: {b:?}");
        let (ta, tb) = (candle.encode(&a).unwrap(), candle.encode(&b).unwrap());
        let Some(k) = ta.iter().zip(&tb).position(|(x, y)| x != y) else {
            identical += 1;
            continue;
        };
        let mut ids = candle.prompt_ids(&prompt).unwrap();
        ids.extend_from_slice(&ta[..k]);
        let (la, lb) = (candle.next_token_logits(&ids).unwrap(), cpp.next_token_logits(&ids).unwrap());
        let (x, y) = (ta[k] as usize, tb[k] as usize);
        eprintln!("part at token {k}: candle logits {:.3} vs {:.3}, llama.cpp {:.3} vs {:.3}", la[x], la[y], lb[x], lb[y]);
        assert!((la[x] - la[y]).abs() < NEAR_TIE && (lb[x] - lb[y]).abs() < NEAR_TIE, "the engines part at token {k} without a near tie:\n{a:?}\n{b:?}");
    }
    assert!(identical >= 1, "no question gave the same greedy text on both engines");
    let prompts = vec![quality_prompt(&candle, CLEAN), quality_prompt(&candle, SPAM)];
    let answers = ["yes", "Yes", " yes", " Yes"];
    let pa = candle.first_token_probability(&prompts, &answers).unwrap();
    let pb = cpp.first_token_probability(&prompts, &answers).unwrap();
    eprintln!("P(yes): candle {pa:?}, llama.cpp {pb:?}");
    for (x, y) in pa.iter().zip(&pb) {
        assert!((x - y).abs() < 0.02 + 0.15 * x, "P(yes) {x} (candle) vs {y} (llama.cpp)");
    }
    assert!(pb[0] > pb[1], "llama.cpp prefers spam");
    let ll = cpp.log_likelihood(&[CLEAN.to_string()]).unwrap()[0];
    let reference = candle.log_likelihood(&[CLEAN.to_string()]).unwrap()[0];
    assert_eq!(ll.1, reference.1);
    assert!((ll.0 - reference.0).abs() < 0.03 * reference.0.abs(), "log-likelihood {} vs {}", ll.0, reference.0);
}
