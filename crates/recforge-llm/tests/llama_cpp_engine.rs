//! The llama.cpp engine against candle on the same tiny f32 GGUF llama (written by
//! `recforge_llm::tiny`): the same logits (llama.cpp keeps its KV cache in f16, hence the
//! tolerances), the same greedy tokens, answer probabilities, log-likelihoods, continuation
//! scores, beam rows, and the same effect of a LoRA adapter written as a GGUF adapter.
#![cfg(feature = "llama-cpp")]

use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_llm::tiny::write_tiny_llama;
use recforge_llm::{Backend, CausalLm, GenerationParams, LoadOptions, LoraAdapters, LoraConfig};

fn both(dir: &std::path::Path) -> (CausalLm, CausalLm) {
    let path = write_tiny_llama(dir, 3).unwrap();
    let candle = CausalLm::load(&path).unwrap();
    let cpp = CausalLm::load_with(&path, LoadOptions { backend: Backend::LlamaCpp, ..Default::default() }).unwrap();
    (candle, cpp)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn llama_cpp_computes_the_same_logits_and_greedy_text_as_candle() {
    let dir = tempfile::tempdir().unwrap();
    let (candle, cpp) = both(dir.path());
    assert_eq!(cpp.backend(), Backend::LlamaCpp);
    assert_eq!(candle.backend(), Backend::Candle);
    assert_ne!(candle.model_id(), cpp.model_id());
    assert_eq!(cpp.context_length(), candle.context_length());
    let ids = candle.prompt_ids(&candle.chat_prompt("the cat sat on the mat")).unwrap();
    let a = candle.next_token_logits(&ids).unwrap();
    let b = cpp.next_token_logits(&ids).unwrap();
    let spread = a.iter().copied().fold(f32::NEG_INFINITY, f32::max) - a.iter().copied().fold(f32::INFINITY, f32::min);
    assert!(max_diff(&a, &b) < 0.02 * spread.max(1.0), "logits differ by {} (spread {spread})", max_diff(&a, &b));
    let prompt = candle.chat_prompt("tell me about the weather");
    let params = GenerationParams { max_tokens: 12, ..Default::default() };
    assert_eq!(candle.generate(&prompt, &params).unwrap(), cpp.generate(&prompt, &params).unwrap());
    // Sampling is seeded on both engines, and a stop string cuts the text.
    let sampled = GenerationParams { temperature: 1.0, top_p: 0.9, max_tokens: 10, seed: 9, ..Default::default() };
    let s = cpp.generate(&prompt, &sampled).unwrap();
    assert_eq!(s, cpp.generate(&prompt, &sampled).unwrap());
    if let Some(c) = s.chars().nth(3) {
        let stopped = cpp.generate(&prompt, &GenerationParams { stop: vec![c.to_string()], ..sampled.clone() }).unwrap();
        assert!(!stopped.contains(c) && s.starts_with(&stopped), "{stopped:?} vs {s:?}");
    }
}

#[test]
fn llama_cpp_scores_prompts_texts_and_continuations_like_candle() {
    let dir = tempfile::tempdir().unwrap();
    let (candle, cpp) = both(dir.path());
    // A shared instruction head (run once on llama.cpp) and different tails.
    let prompts: Vec<String> = ["the cat", "a much longer document about the weather in 2024", "hi", "the cat"]
        .iter()
        .map(|d| candle.chat_prompt(&format!("Is this text useful? Answer yes or no.\n{d}")))
        .collect();
    let answers = ["yes", "Yes", "y"];
    let pa = candle.first_token_probability(&prompts, &answers).unwrap();
    let pb = cpp.first_token_probability(&prompts, &answers).unwrap();
    for (x, y) in pa.iter().zip(&pb) {
        assert!((x - y).abs() < 0.01 + 0.02 * x, "P(yes) {x} (candle) vs {y} (llama.cpp)");
    }
    assert!((pb[0] - pb[3]).abs() <= 1e-4 * pb[0], "identical prompts, identical scores: {} vs {}", pb[0], pb[3]);
    // One prompt alone gives what it gives among others.
    let alone = cpp.first_token_probability(&prompts[1..2], &answers).unwrap()[0];
    assert!((alone - pb[1]).abs() < 1e-3, "{alone} vs {}", pb[1]);
    let texts: Vec<String> = ["the cat sat", "ab", "x", "a much longer sentence about the weather, 2024"].iter().map(|s| s.to_string()).collect();
    let la = candle.log_likelihood(&texts).unwrap();
    let lb = cpp.log_likelihood(&texts).unwrap();
    for ((x, nx), (y, ny)) in la.iter().zip(&lb) {
        assert_eq!(nx, ny);
        assert!((x - y).abs() < 0.02 * (1.0 + x.abs()), "log-likelihood {x} vs {y}");
    }
    let prompt = candle.prompt_ids(&candle.chat_prompt("rank these")).unwrap();
    let continuations: Vec<Vec<u32>> = ["the cat", "a", "the weather today"].iter().map(|c| candle.encode(c).unwrap()).collect();
    let ca = candle.continuation_log_probs(&prompt, &continuations).unwrap();
    let cb = cpp.continuation_log_probs(&prompt, &continuations).unwrap();
    for (x, y) in ca.iter().zip(&cb) {
        assert!((x - y).abs() < 0.02 * (1.0 + x.abs()), "continuation {x} vs {y}");
    }
}

#[test]
fn llama_cpp_beam_rows_follow_candle_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (candle, cpp) = both(dir.path());
    let prompt = candle.prompt_ids(&candle.chat_prompt("name a film")).unwrap();
    let mut a = candle.decoder(&prompt).unwrap();
    let mut b = cpp.decoder(&prompt).unwrap();
    let steps: [(&[u32], &[u32]); 3] = [(&[0, 0, 0], &[70, 71, 72]), (&[2, 0], &[80, 81]), (&[1, 1, 0], &[90, 91, 92])];
    for (parents, tokens) in steps {
        a.advance(parents, tokens).unwrap();
        b.advance(parents, tokens).unwrap();
        assert_eq!(a.log_probs().len(), b.log_probs().len());
        for (ra, rb) in a.log_probs().iter().zip(b.log_probs()) {
            assert!(max_diff(ra, rb) < 0.05, "beam log-probs differ by {}", max_diff(ra, rb));
        }
    }
}

#[test]
fn a_gguf_lora_adapter_changes_llama_cpp_as_the_folded_adapter_changes_candle() {
    let dir = tempfile::tempdir().unwrap();
    let (candle, cpp) = both(dir.path());
    let config = LoraConfig { rank: 4, alpha: 8.0, layers: None, ..LoraConfig::default() };
    let adapters = LoraAdapters::new(candle.llama().unwrap().config(), &config, 11).unwrap();
    let mut rng = StdRng::seed_from_u64(12);
    for (name, var) in adapters.named_vars() {
        if name.ends_with("lora_b") {
            let values: Vec<f32> = (0..var.elem_count()).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * 0.5).collect();
            var.set(&Tensor::from_vec(values, var.shape(), var.device()).unwrap()).unwrap();
        }
    }
    let ids = candle.prompt_ids(&candle.chat_prompt("the cat")).unwrap();
    let (base_a, base_b) = (candle.next_token_logits(&ids).unwrap(), cpp.next_token_logits(&ids).unwrap());
    let candle = candle.with_adapters(&adapters, "t").unwrap();
    let cpp = cpp.with_adapters(&adapters, "t").unwrap();
    let (lora_a, lora_b) = (candle.next_token_logits(&ids).unwrap(), cpp.next_token_logits(&ids).unwrap());
    let delta_a: Vec<f32> = lora_a.iter().zip(&base_a).map(|(x, y)| x - y).collect();
    let delta_b: Vec<f32> = lora_b.iter().zip(&base_b).map(|(x, y)| x - y).collect();
    let size = delta_a.iter().map(|d| d.abs()).fold(0.0, f32::max);
    assert!(size > 0.5, "the adapter barely moves the logits ({size})");
    assert!(max_diff(&delta_a, &delta_b) < 0.05 * size, "LoRA effect differs by {} of {size}", max_diff(&delta_a, &delta_b));
    // The same file loads directly, as a run folder's adapter.gguf does.
    let file = dir.path().join("adapter.gguf");
    adapters.save_gguf(&file).unwrap();
    let path = dir.path().join("tiny-llama.gguf");
    let direct = CausalLm::load_with(&path, LoadOptions { backend: Backend::LlamaCpp, ..Default::default() })
        .unwrap()
        .with_gguf_adapter(&file, "file")
        .unwrap();
    assert!(max_diff(&direct.next_token_logits(&ids).unwrap(), &lora_b) < 1e-4);
    assert!(CausalLm::load(&path).unwrap().with_gguf_adapter(&file, "x").is_err(), "candle takes safetensors adapters");
}

#[test]
fn peft_export_names_tensors_and_config_as_peft_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_tiny_llama(dir.path(), 3).unwrap();
    let candle = CausalLm::load(&path).unwrap();
    let base = candle.llama().unwrap().config().clone();
    let config = LoraConfig { rank: 2, layers: Some(1), ..LoraConfig::default() };
    let adapters = LoraAdapters::new(&base, &config, 5).unwrap();
    let out = dir.path().join("peft");
    adapters.save_peft(&out, "HuggingFaceTB/SmolLM2-135M-Instruct").unwrap();
    let tensors = candle_core::safetensors::load(out.join("adapter_model.safetensors"), &candle_core::Device::Cpu).unwrap();
    let last = base.num_layers - 1;
    assert_eq!(tensors.len(), 2 * 7);
    let a = &tensors[&format!("base_model.model.model.layers.{last}.self_attn.q_proj.lora_A.weight")];
    assert_eq!(a.dims(), &[2, base.hidden_size]);
    let b = &tensors[&format!("base_model.model.model.layers.{last}.mlp.down_proj.lora_B.weight")];
    assert_eq!(b.dims(), &[base.hidden_size, 2]);
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 2);
    assert_eq!(cfg["lora_alpha"], 16.0);
    assert_eq!(cfg["layers_to_transform"], serde_json::json!([last]));
    assert_eq!(cfg["target_modules"].as_array().unwrap().len(), 7);
}
