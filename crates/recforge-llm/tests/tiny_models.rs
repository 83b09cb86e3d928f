//! The runtime on tiny randomly initialised checkpoints written by the tests themselves: a
//! llama model as a Hugging Face directory and as a GGUF file (same weights, GGUF's permuted
//! Q/K for interleaved RoPE), a T5 directory and a BERT directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_llm::gguf_tokenizer::tokenizer_from_gguf;
use recforge_llm::{CausalLm, GenerationParams, LoadOptions, ScoreCache, SentenceEncoder, WeightFormat};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

#[path = "support/bert_reference.rs"]
mod bert_reference;
use bert_reference::{BertReference, max_diff};

const HIDDEN: usize = 32;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
const INTER: usize = 64;
const LAYERS: usize = 2;
const CONTEXT: usize = 128;
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Byte-level vocabulary: the 256 byte symbols, two merged tokens, then the ChatML specials.
fn vocab() -> (Vec<String>, Vec<i32>, Vec<String>) {
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort();
    let mut tokens: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    tokens.push("Ġt".into());
    tokens.push("he".into());
    let mut types = vec![1; tokens.len()];
    for s in SPECIALS {
        tokens.push(s.into());
        types.push(3);
    }
    (tokens, types, vec!["Ġ t".into(), "h e".into()])
}

fn random(rng: &mut StdRng, shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// HF llama tensors with random weights.
fn llama_tensors(vocab_size: usize) -> HashMap<String, Tensor> {
    let mut rng = StdRng::seed_from_u64(3);
    let mut t = HashMap::new();
    t.insert("model.embed_tokens.weight".into(), random(&mut rng, &[vocab_size, HIDDEN], 1.0));
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        let kv = KV_HEADS * HEAD_DIM;
        for (name, shape) in [
            ("self_attn.q_proj", [HIDDEN, HIDDEN]),
            ("self_attn.k_proj", [kv, HIDDEN]),
            ("self_attn.v_proj", [kv, HIDDEN]),
            ("self_attn.o_proj", [HIDDEN, HIDDEN]),
            ("mlp.gate_proj", [INTER, HIDDEN]),
            ("mlp.up_proj", [INTER, HIDDEN]),
            ("mlp.down_proj", [HIDDEN, INTER]),
        ] {
            t.insert(format!("{p}.{name}.weight"), random(&mut rng, &shape, 0.4));
        }
        t.insert(format!("{p}.input_layernorm.weight"), (random(&mut rng, &[HIDDEN], 0.2) + 1.0).unwrap());
        t.insert(format!("{p}.post_attention_layernorm.weight"), (random(&mut rng, &[HIDDEN], 0.2) + 1.0).unwrap());
    }
    t.insert("model.norm.weight".into(), (random(&mut rng, &[HIDDEN], 0.2) + 1.0).unwrap());
    t
}

/// llama.cpp's HF → GGUF permutation of Q/K rows: half-rotation pairs (i, i+d/2) become
/// interleaved pairs (2i, 2i+1).
fn permute_rows(w: &Tensor, heads: usize) -> Tensor {
    let (rows, cols) = w.dims2().unwrap();
    let hd = rows / heads;
    w.reshape((heads, 2, hd / 2, cols)).unwrap().transpose(1, 2).unwrap().reshape((rows, cols)).unwrap()
}

fn gguf_metadata(tokens: &[String], types: &[i32], merges: &[String]) -> Vec<(String, Value)> {
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("llama.block_count".into(), Value::U32(LAYERS as u32)),
        ("llama.embedding_length".into(), Value::U32(HIDDEN as u32)),
        ("llama.feed_forward_length".into(), Value::U32(INTER as u32)),
        ("llama.attention.head_count".into(), Value::U32(HEADS as u32)),
        ("llama.attention.head_count_kv".into(), Value::U32(KV_HEADS as u32)),
        ("llama.rope.freq_base".into(), Value::F32(10_000.0)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-5)),
        ("llama.context_length".into(), Value::U32(CONTEXT as u32)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        ("tokenizer.ggml.tokens".into(), strings(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types.iter().map(|&t| Value::I32(t)).collect())),
        ("tokenizer.ggml.merges".into(), strings(merges)),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32((tokens.len() - 2) as u32)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32((tokens.len() - 1) as u32)),
    ]
}

/// Writes the same tiny llama as `llama.gguf` (with `dtype` matrices) and as an HF dir `hf-llama/`.
fn write_llama(dir: &Path, dtype: GgmlDType) -> (PathBuf, PathBuf) {
    let (tokens, types, merges) = vocab();
    let tensors = llama_tensors(tokens.len());
    let metadata = gguf_metadata(&tokens, &types, &merges);
    // GGUF
    let q = |t: &Tensor, dt: GgmlDType| QTensor::quantize(t, dt).unwrap();
    let mut qt: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), q(&tensors["model.embed_tokens.weight"], GgmlDType::F32)),
        ("output_norm.weight".into(), q(&tensors["model.norm.weight"], GgmlDType::F32)),
    ];
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        let g = format!("blk.{i}");
        let get = |n: &str| tensors[&format!("{p}.{n}.weight")].clone();
        qt.push((format!("{g}.attn_q.weight"), q(&permute_rows(&get("self_attn.q_proj"), HEADS), dtype)));
        qt.push((format!("{g}.attn_k.weight"), q(&permute_rows(&get("self_attn.k_proj"), KV_HEADS), dtype)));
        qt.push((format!("{g}.attn_v.weight"), q(&get("self_attn.v_proj"), dtype)));
        qt.push((format!("{g}.attn_output.weight"), q(&get("self_attn.o_proj"), dtype)));
        qt.push((format!("{g}.ffn_gate.weight"), q(&get("mlp.gate_proj"), dtype)));
        qt.push((format!("{g}.ffn_up.weight"), q(&get("mlp.up_proj"), dtype)));
        qt.push((format!("{g}.ffn_down.weight"), q(&get("mlp.down_proj"), dtype)));
        qt.push((format!("{g}.attn_norm.weight"), q(&get("input_layernorm"), GgmlDType::F32)));
        qt.push((format!("{g}.ffn_norm.weight"), q(&get("post_attention_layernorm"), GgmlDType::F32)));
    }
    let gguf = dir.join("llama.gguf");
    {
        let mut f = std::fs::File::create(&gguf).unwrap();
        let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let ts: Vec<(&str, &QTensor)> = qt.iter().map(|(k, v)| (k.as_str(), v)).collect();
        gguf_file::write(&mut f, &md, &ts).unwrap();
    }
    // HF directory: same weights, tokenizer.json from the GGUF tokenizer, tied embeddings.
    let hf = dir.join("hf-llama");
    std::fs::create_dir_all(&hf).unwrap();
    candle_core::safetensors::save(&tensors, hf.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "model_type": "llama", "vocab_size": tokens.len(), "hidden_size": HIDDEN,
        "intermediate_size": INTER, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
        "max_position_embeddings": CONTEXT, "tie_word_embeddings": true,
        "eos_token_id": tokens.len() - 1
    });
    std::fs::write(hf.join("config.json"), config.to_string()).unwrap();
    let mut f = std::fs::File::open(&gguf).unwrap();
    let content = gguf_file::Content::read(&mut f).unwrap();
    let tok = tokenizer_from_gguf(&content, &gguf).unwrap();
    tok.tokenizer.save(hf.join("tokenizer.json"), false).unwrap();
    (gguf, hf)
}

fn texts() -> Vec<String> {
    ["the cat", "a much longer sentence about the weather, 2024", "hi", "<|im_start|>user\nthe<|im_end|>"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn gguf_tokenizer_round_trips_and_keeps_chatml_tokens_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, _) = write_llama(dir.path(), GgmlDType::F32);
    let lm = CausalLm::load(&gguf).unwrap();
    for text in ["Hello, wörld! 123 the end\n\ttabs", "the the", "日本語 ✓"] {
        let ids = lm.encode(text).unwrap();
        assert_eq!(lm.decode(&ids).unwrap(), text);
    }
    // digits split one by one (smollm pre-tokenizer), merges applied
    assert_eq!(lm.encode("12").unwrap().len(), 2);
    assert_eq!(lm.encode(" the").unwrap().len(), 2); // "Ġt" + "he"
    let prompt = lm.chat_prompt("hi");
    assert_eq!(prompt, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    let ids = lm.encode(&prompt).unwrap();
    let start = lm.tokenizer().token_to_id("<|im_start|>").unwrap();
    let end = lm.tokenizer().token_to_id("<|im_end|>").unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == start).count(), 2);
    assert_eq!(ids.iter().filter(|&&i| i == end).count(), 1);
    assert_eq!(lm.count_tokens("abc"), 3);
    assert_eq!(lm.truncate_to_tokens("abcdef", 4), "abcd");
    assert_eq!(lm.truncate_to_tokens("ab", 4), "ab");
    assert_eq!(lm.context_length(), CONTEXT);
}

#[test]
fn hf_directory_and_gguf_compute_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, hf) = write_llama(dir.path(), GgmlDType::F32);
    let a = CausalLm::load(&gguf).unwrap();
    let b = CausalLm::load(&hf).unwrap();
    assert_ne!(a.model_id(), b.model_id());
    let la = a.log_likelihood(&texts()).unwrap();
    let lb = b.log_likelihood(&texts()).unwrap();
    for ((x, nx), (y, ny)) in la.iter().zip(&lb) {
        assert_eq!(nx, ny);
        assert!((x - y).abs() < 1e-3 * (1.0 + x.abs()), "{x} vs {y}");
    }
}

#[test]
fn batched_scoring_equals_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, _) = write_llama(dir.path(), GgmlDType::F32);
    let lm = CausalLm::load(&gguf).unwrap();
    let prompts: Vec<String> = texts().iter().map(|t| lm.chat_prompt(t)).collect();
    let answers = ["yes", "Yes", "y"]; // "yes" and "y" share their first token
    let batched = lm.first_token_probability(&prompts, &answers).unwrap();
    let ll_batched = lm.log_likelihood(&texts()).unwrap();
    for (i, p) in prompts.iter().enumerate() {
        let single = lm.first_token_probability(std::slice::from_ref(p), &answers).unwrap()[0];
        assert!((single - batched[i]).abs() < 1e-5, "{single} vs {}", batched[i]);
        assert!(single > 0.0 && single < 1.0);
        let ll = lm.log_likelihood(std::slice::from_ref(&texts()[i])).unwrap()[0];
        assert_eq!(ll.1, ll_batched[i].1);
        assert!((ll.0 - ll_batched[i].0).abs() < 1e-3, "{} vs {}", ll.0, ll_batched[i].0);
    }
    // The first-token probability is the sum of the distinct first tokens' probabilities.
    let y = lm.first_token_probability(&prompts[..1], &["y"]).unwrap()[0];
    let cap = lm.first_token_probability(&prompts[..1], &["Y"]).unwrap()[0];
    assert!((batched[0] - (y + cap)).abs() < 1e-5);
}

#[test]
fn log_likelihood_is_the_chain_of_next_token_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, _) = write_llama(dir.path(), GgmlDType::F32);
    let lm = CausalLm::load(&gguf).unwrap();
    let text = "abcab";
    let (ll, n) = lm.log_likelihood(&[text.to_string()]).unwrap()[0];
    assert_eq!(n, 4); // no BOS: the first token is context
    let mut chain = 0.0;
    for k in 1..text.len() {
        let p = lm.first_token_probability(&[text[..k].to_string()], &[&text[k..k + 1]]).unwrap()[0];
        chain += (p as f64).ln();
    }
    assert!((ll - chain).abs() < 1e-3, "{ll} vs {chain}");
}

#[test]
fn generation_with_kv_cache_matches_full_recompute_and_honours_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, _) = write_llama(dir.path(), GgmlDType::F32);
    let lm = CausalLm::load(&gguf).unwrap();
    let prompt = lm.chat_prompt("tell me");
    let params = GenerationParams { max_tokens: 6, ..Default::default() };
    let text = lm.generate(&prompt, &params).unwrap();
    // Greedy reference without a KV cache: the argmax token, recomputed from scratch each step.
    let mut ids = lm.encode(&prompt).unwrap();
    let mut generated = Vec::new();
    for _ in 0..6 {
        let logits = lm.next_token_logits(&ids).unwrap();
        let best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap() as u32;
        if lm.tokenizer().id_to_token(best).is_some_and(|t| t == "<|im_end|>" || t == "<|endoftext|>") {
            break;
        }
        ids.push(best);
        generated.push(best);
    }
    let reference = lm.tokenizer().decode(&generated, true).unwrap();
    assert_eq!(text, reference);
    // Same seed, same sample; a stop string cuts the text.
    let sampled = GenerationParams { temperature: 1.0, top_p: 0.9, max_tokens: 8, seed: 5, ..Default::default() };
    let s1 = lm.generate(&prompt, &sampled).unwrap();
    assert_eq!(s1, lm.generate(&prompt, &sampled).unwrap());
    if let Some(c) = s1.chars().nth(2) {
        let stopped = lm.generate(&prompt, &GenerationParams { stop: vec![c.to_string()], ..sampled.clone() }).unwrap();
        assert!(!stopped.contains(c), "{stopped:?} still has {c:?}");
        assert!(s1.starts_with(&stopped));
    }
}

#[test]
fn quantized_weights_stay_close_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, _) = write_llama(dir.path(), GgmlDType::Q8_0);
    let f32_lm = CausalLm::load_with(&gguf, LoadOptions { weights: WeightFormat::F32, ..Default::default() }).unwrap();
    let q_lm = CausalLm::load_with(&gguf, LoadOptions { weights: WeightFormat::Quantized, ..Default::default() }).unwrap();
    let a = f32_lm.log_likelihood(&texts()).unwrap();
    let b = q_lm.log_likelihood(&texts()).unwrap();
    for ((x, _), (y, _)) in a.iter().zip(&b) {
        // candle quantizes the activations to 8 bits in the quantized path
        assert!((x - y).abs() < 0.05 * (1.0 + x.abs()), "{x} vs {y}");
    }
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, hf) = write_llama(dir.path(), GgmlDType::F32);
    let lm = CausalLm::load(&gguf).unwrap();
    let long = "a".repeat(CONTEXT + 5);
    let err = lm.first_token_probability(&[long], &["a"]).unwrap_err().to_string();
    assert!(err.contains("context length"), "{err}");
    assert!(lm.first_token_probability(&["x".into()], &[]).is_err());
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not a model").unwrap();
    let err = CausalLm::load(&junk).err().unwrap().to_string();
    assert!(err.contains("junk.gguf"), "{err}");
    std::fs::remove_file(hf.join("tokenizer.json")).unwrap();
    let err = CausalLm::load(&hf).err().unwrap().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
}

/// A tiny T5 directory: random weights from candle's own initialisers, the byte-level tokenizer.
fn write_t5(dir: &Path) -> PathBuf {
    let (gguf, _) = write_llama(dir, GgmlDType::F32);
    let t5 = dir.join("hf-t5");
    std::fs::create_dir_all(&t5).unwrap();
    std::fs::copy(dir.join("hf-llama/tokenizer.json"), t5.join("tokenizer.json")).unwrap();
    let _ = gguf;
    let (tokens, _, _) = vocab();
    let config = serde_json::json!({
        "model_type": "t5", "vocab_size": tokens.len(), "d_model": HIDDEN, "d_kv": HEAD_DIM,
        "d_ff": INTER, "num_layers": LAYERS, "num_heads": HEADS,
        "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16,
        "dropout_rate": 0.0, "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0,
        "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false,
        "is_encoder_decoder": true, "pad_token_id": 0, "eos_token_id": tokens.len() - 1,
        "decoder_start_token_id": 0
    });
    std::fs::write(t5.join("config.json"), config.to_string()).unwrap();
    let cfg: candle_transformers::models::t5::Config = serde_json::from_value(config).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    candle_transformers::models::t5::T5ForConditionalGeneration::load(vb, &cfg).unwrap();
    varmap.save(t5.join("model.safetensors")).unwrap();
    t5
}

#[test]
fn t5_directory_scores_and_generates() {
    let dir = tempfile::tempdir().unwrap();
    let t5 = write_t5(dir.path());
    let lm = CausalLm::load(&t5).unwrap();
    assert_eq!(lm.chat_prompt("question"), "question");
    let p = lm.first_token_probability(&["is it?".into(), "x".into()], &["y", "n"]).unwrap();
    assert!(p.iter().all(|v| *v > 0.0 && *v < 1.0), "{p:?}");
    let single = lm.first_token_probability(&["x".into()], &["y", "n"]).unwrap()[0];
    assert!((single - p[1]).abs() < 1e-6);
    let ll = lm.log_likelihood(&["abc".into()]).unwrap();
    assert_eq!(ll[0].1, 3);
    assert!(ll[0].0 < 0.0 && ll[0].0.is_finite());
    let out = lm.generate("hello", &GenerationParams { max_tokens: 4, ..Default::default() }).unwrap();
    assert!(lm.count_tokens(&out) <= 4 + 1);
}

/// A tiny BERT directory: word-piece tokenizer over a few words, random weights.
fn write_bert(dir: &Path) -> PathBuf {
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;
    let bert = dir.join("hf-bert");
    std::fs::create_dir_all(&bert).unwrap();
    let words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "dog", "sat", "on", "mat", "stock", "market", "fell", "."];
    let vocab: tokenizers::models::bpe::Vocab = words.iter().enumerate().map(|(i, w)| (w.to_string(), i as u32)).collect();
    let wp = WordPiece::builder().vocab(vocab).unk_token("[UNK]".into()).build().unwrap();
    let mut tok = tokenizers::Tokenizer::new(wp);
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), 3), ("[CLS]".into(), 2))));
    tok.save(bert.join("tokenizer.json"), false).unwrap();
    let config = serde_json::json!({
        "model_type": "bert", "vocab_size": words.len(), "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": INTER,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "max_position_embeddings": 64,
        "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0
    });
    std::fs::write(bert.join("config.json"), config.to_string()).unwrap();
    let cfg: candle_transformers::models::bert::Config = serde_json::from_value(config).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    candle_transformers::models::bert::BertModel::load(vb, &cfg).unwrap();
    varmap.save(bert.join("model.safetensors")).unwrap();
    bert
}

#[test]
fn sentence_encoder_gives_unit_vectors_independent_of_batch_padding() {
    let dir = tempfile::tempdir().unwrap();
    let enc = SentenceEncoder::load(&write_bert(dir.path())).unwrap();
    assert_eq!(enc.dim(), HIDDEN);
    let texts: Vec<String> = ["the cat sat on the mat .", "dog", "the stock market fell"].iter().map(|s| s.to_string()).collect();
    let batch = enc.embed(&texts).unwrap();
    assert_eq!(batch.len(), 3);
    for (i, v) in batch.iter().enumerate() {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        let alone = enc.embed(std::slice::from_ref(&texts[i])).unwrap().remove(0);
        let diff: f32 = v.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-4, "text {i}: padded batch differs by {diff}");
    }
    let err = SentenceEncoder::load(&dir.path().join("nowhere")).err().unwrap().to_string();
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn packed_sentence_encoder_matches_candle_bert_and_ignores_batch_mates() {
    let dir = tempfile::tempdir().unwrap();
    let bert = write_bert(dir.path());
    let enc = SentenceEncoder::load(&bert).unwrap();
    let reference = BertReference::load(&bert);
    // A one-word sentence batched with one ~15× longer (and with itself alone).
    let long = "the stock market fell on the mat . ".repeat(6);
    let texts: Vec<String> = vec!["dog".into(), long.clone(), "the cat sat".into(), "dog".into()];
    let batch = enc.embed(&texts).unwrap();
    assert_eq!(batch.len(), texts.len());
    for (text, v) in texts.iter().zip(&batch) {
        let d = max_diff(v, &reference.embed(text));
        assert!(d < 1e-4, "{text:?}: packed vs candle BertModel differ by {d}");
        let alone = enc.embed(std::slice::from_ref(text)).unwrap().remove(0);
        assert!(max_diff(v, &alone) < 1e-4, "{text:?}: depends on its batch");
    }
    assert_eq!(batch[0], batch[3], "same text, same batch, same vector");
    assert!(max_diff(&batch[0], &batch[1]) > 1e-3, "different texts should differ");
    assert!(enc.embed(&[]).unwrap().is_empty());
}

#[test]
fn score_cache_round_trips_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/cache.redb");
    {
        let cache = ScoreCache::open(&path).unwrap();
        assert_eq!(cache.get_f32s("m", "askllm", "doc").unwrap(), None);
        cache.put_f32s("m", "askllm", "doc", &[0.25, -1.5]).unwrap();
        cache.put_many_f32s("m", "embed", &[("doc", &[1.0, 2.0, 3.0][..]), ("other", &[][..])]).unwrap();
        assert_eq!(cache.get_f32s("m", "askllm", "doc").unwrap(), Some(vec![0.25, -1.5]));
        assert_eq!(cache.get_f32s("m2", "askllm", "doc").unwrap(), None);
    }
    let cache = ScoreCache::open(&path).unwrap();
    assert_eq!(cache.get_f32s("m", "embed", "doc").unwrap(), Some(vec![1.0, 2.0, 3.0]));
    assert_eq!(
        cache.get_many_f32s("m", "embed", &["other", "missing"]).unwrap(),
        vec![Some(vec![]), None]
    );
    // Length-prefixed fields: moving a boundary changes the key.
    assert_ne!(recforge_llm::cache_key("ab", "c", "d"), recforge_llm::cache_key("a", "bc", "d"));
}
