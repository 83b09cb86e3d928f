//! Fine-tuning and decoding on a tiny random llama: the loss falls, a resumed run ends where
//! an uninterrupted one does, and the constrained beam over a title trie scores titles as the
//! model's own continuation log-likelihoods do.

use std::collections::HashSet;

use recforge_llm::{CausalLm, LoraConfig};
use recforge_llmrec::TaskExample;
use recforge_llmrec::finetune::{FinetuneConfig, Finetuner, answer_ids, load_with_adapters, tokenize_examples};
use recforge_llmrec::trie::{TitleTrie, constrained_beam_search};

fn tiny() -> (tempfile::TempDir, CausalLm) {
    let dir = tempfile::tempdir().unwrap();
    let path = recforge_llm::tiny::write_tiny_llama(dir.path(), 21).unwrap();
    let lm = CausalLm::load(&path).unwrap();
    (dir, lm)
}

fn examples() -> Vec<TaskExample> {
    (0..6)
        .map(|i| TaskExample { task: "retrieval".into(), prompt: format!("watched {i}; next?"), target: "the cat".into() })
        .collect()
}

fn config(steps: usize) -> FinetuneConfig {
    FinetuneConfig {
        lora: LoraConfig { rank: 4, ..LoraConfig::default() },
        lr: 2e-2,
        warmup_steps: 1,
        steps,
        batch_size: 2,
        grad_accum: 2,
        max_len: 128,
        ..FinetuneConfig::default()
    }
}

#[test]
fn fine_tuning_lowers_the_loss_and_resumes_exactly() {
    let (dir, lm) = tiny();
    let (tokenized, skipped) = tokenize_examples(&lm, &examples(), 128).unwrap();
    assert_eq!(skipped, 0);
    assert_eq!(tokenize_examples(&lm, &examples(), 5).unwrap().1, 6, "too-long examples are counted");
    let mut straight = Finetuner::new(&lm, config(6), tokenized.clone()).unwrap();
    let losses: Vec<f64> = (0..6).map(|_| straight.train_step(&lm).unwrap().loss).collect();
    assert!(losses[5] < losses[0] * 0.8, "loss did not fall: {losses:?}");
    let run = dir.path().join("run");
    let mut first = Finetuner::new(&lm, config(6), tokenized.clone()).unwrap();
    for _ in 0..3 {
        first.train_step(&lm).unwrap();
    }
    first.save_checkpoint(&run).unwrap();
    let mut resumed = Finetuner::resume(&lm, &run, tokenized).unwrap();
    assert_eq!(resumed.step, 3);
    for _ in 0..3 {
        resumed.train_step(&lm).unwrap();
    }
    for ((n, a), (_, b)) in straight.adapters.named_vars().iter().zip(resumed.adapters.named_vars().iter()) {
        let diff = (a.as_tensor() - b.as_tensor()).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-6, "{n} differs by {diff} after resuming");
    }
    // The saved run loads into the model and changes its answers' likelihood.
    resumed.save_checkpoint(&run).unwrap();
    let prompt = lm.prompt_ids(&lm.chat_prompt("watched 0; next?")).unwrap();
    let answer = answer_ids(&lm, "the cat").unwrap();
    let before = lm.continuation_log_probs(&prompt, &[answer.clone()]).unwrap()[0];
    let (_d, lm2) = tiny();
    let tuned = load_with_adapters(lm2, &run).unwrap();
    let after = tuned.continuation_log_probs(&prompt, &[answer]).unwrap()[0];
    assert!(after > before + 0.5, "fine-tuning did not raise the target's likelihood: {before} → {after}");
}

#[test]
fn constrained_beam_on_a_tiny_llama_matches_continuation_scores() {
    let (_dir, lm) = tiny();
    let titles = ["the cat (1990)", "the car (1991)", "a dog (1992)", "the (1993)", "the cat (1990) II", "zebra (2000)"];
    let mut trie = TitleTrie::default();
    let answers: Vec<Vec<u32>> = titles.iter().map(|t| answer_ids(&lm, t).unwrap()).collect();
    for (i, a) in answers.iter().enumerate() {
        assert!(trie.insert(a, i as u32));
    }
    let prompt = lm.prompt_ids(&lm.chat_prompt("Recommend a film.")).unwrap();
    let scores = lm.continuation_log_probs(&prompt, &answers).unwrap();
    let mut decoder = lm.decoder(&prompt).unwrap();
    let found = constrained_beam_search(&mut decoder, &trie, 64, 4, &HashSet::new()).unwrap();
    let mut expected: Vec<(u32, f64)> = scores.iter().enumerate().map(|(i, &s)| (i as u32, s)).collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    expected.truncate(4);
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for ((_, got), (_, want)) in found.iter().zip(&expected) {
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
    }
    // A narrow beam still returns only catalogue titles, and excluded items never.
    let mut decoder = lm.decoder(&prompt).unwrap();
    let exclude = HashSet::from([expected[0].0]);
    let narrow = constrained_beam_search(&mut decoder, &trie, 2, 3, &exclude).unwrap();
    assert!(!narrow.is_empty());
    assert!(narrow.iter().all(|(i, _)| (*i as usize) < titles.len() && !exclude.contains(i)));
}

/// The tiny llama on the llama.cpp engine.
#[cfg(feature = "llama-cpp")]
fn tiny_cpp(dir: &std::path::Path) -> CausalLm {
    let path = dir.join("tiny-llama.gguf");
    CausalLm::load_with(&path, recforge_llm::LoadOptions { backend: recforge_llm::Backend::LlamaCpp, ..Default::default() }).unwrap()
}

#[test]
#[cfg(feature = "llama-cpp")]
fn a_fine_tuned_run_loads_on_llama_cpp_through_its_gguf_adapter() {
    let (dir, lm) = tiny();
    let (tokenized, _) = tokenize_examples(&lm, &examples(), 128).unwrap();
    let mut tuner = Finetuner::new(&lm, config(4), tokenized).unwrap();
    for _ in 0..4 {
        tuner.train_step(&lm).unwrap();
    }
    let run = dir.path().join("run");
    tuner.save_checkpoint(&run).unwrap();
    for file in ["adapter.gguf", "peft/adapter_model.safetensors", "peft/adapter_config.json"] {
        assert!(run.join(file).exists(), "{file} not written");
    }
    let prompt = lm.prompt_ids(&lm.chat_prompt("watched 0; next?")).unwrap();
    let answer = answer_ids(&lm, "the cat").unwrap();
    let cpp = tiny_cpp(dir.path());
    let before = cpp.continuation_log_probs(&prompt, &[answer.clone()]).unwrap()[0];
    let tuned_cpp = load_with_adapters(cpp, &run).unwrap();
    let after = tuned_cpp.continuation_log_probs(&prompt, &[answer.clone()]).unwrap()[0];
    let tuned_candle = load_with_adapters(tiny().1, &run).unwrap();
    let candle_after = tuned_candle.continuation_log_probs(&prompt, &[answer]).unwrap()[0];
    assert!(after > before + 0.5, "the adapter did not raise the target on llama.cpp: {before} → {after}");
    assert!((after - candle_after).abs() < 0.05 * (1.0 + candle_after.abs()), "llama.cpp {after} vs candle {candle_after}");
}

#[test]
#[cfg(feature = "llama-cpp")]
fn constrained_beam_on_llama_cpp_returns_only_catalogue_titles_in_score_order() {
    let (dir, lm) = tiny();
    let cpp = tiny_cpp(dir.path());
    let titles = ["the cat (1990)", "the car (1991)", "a dog (1992)", "the (1993)", "the cat (1990) II", "zebra (2000)"];
    let mut trie = TitleTrie::default();
    let answers: Vec<Vec<u32>> = titles.iter().map(|t| answer_ids(&lm, t).unwrap()).collect();
    for (i, a) in answers.iter().enumerate() {
        assert!(trie.insert(a, i as u32));
    }
    let prompt = lm.prompt_ids(&lm.chat_prompt("Recommend a film.")).unwrap();
    let scores = cpp.continuation_log_probs(&prompt, &answers).unwrap();
    let mut decoder = cpp.decoder(&prompt).unwrap();
    let found = constrained_beam_search(&mut decoder, &trie, 64, 4, &HashSet::new()).unwrap();
    let mut expected: Vec<(u32, f64)> = scores.iter().enumerate().map(|(i, &s)| (i as u32, s)).collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    expected.truncate(4);
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for ((_, got), (_, want)) in found.iter().zip(&expected) {
        // llama.cpp's f16 KV cache and batch shapes: agreement to ~1e-4 relative.
        assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()), "{got} vs {want}");
    }
    let mut decoder = cpp.decoder(&prompt).unwrap();
    let exclude = HashSet::from([expected[0].0]);
    let narrow = constrained_beam_search(&mut decoder, &trie, 2, 3, &exclude).unwrap();
    assert!(!narrow.is_empty());
    assert!(narrow.iter().all(|(i, _)| (*i as usize) < titles.len() && !exclude.contains(i)));
}
