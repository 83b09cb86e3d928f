//! A tiny randomly initialised llama written as a GGUF file, for tests and demos of code
//! built on the runtime (fine-tuning, constrained decoding, CLI end-to-end runs) that must not
//! depend on downloaded weights. Byte-level BPE vocabulary (256 byte symbols, two merges, the
//! ChatML specials), 2 layers, hidden size 32, grouped-query attention, f32 weights.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;

use crate::LlmError;

const HIDDEN: usize = 32;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const INTER: usize = 64;
const LAYERS: usize = 2;
const CONTEXT: usize = 1024;
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

fn random(rng: &mut StdRng, shape: &[usize], scale: f32, offset: f32) -> candle_core::Result<Tensor> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| offset + (rng.random::<f32>() * 2.0 - 1.0) * scale).collect();
    Tensor::from_vec(values, shape, &Device::Cpu)
}

/// Writes `tiny-llama.gguf` into `dir` (weights drawn from `seed`) and returns its path.
pub fn write_tiny_llama(dir: &Path, seed: u64) -> Result<PathBuf, LlmError> {
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort();
    let mut tokens: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    tokens.push("Ġt".into());
    tokens.push("he".into());
    let mut types = vec![1i32; tokens.len()];
    for s in SPECIALS {
        tokens.push(s.into());
        types.push(3);
    }
    let merges = ["Ġ t", "h e"];
    let vocab = tokens.len();
    let mut rng = StdRng::seed_from_u64(seed);
    let q = |t: Tensor| QTensor::quantize(&t, GgmlDType::F32);
    let kv = KV_HEADS * (HIDDEN / HEADS);
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), q(random(&mut rng, &[vocab, HIDDEN], 1.0, 0.0)?)?),
        ("output_norm.weight".into(), q(random(&mut rng, &[HIDDEN], 0.2, 1.0)?)?),
    ];
    for i in 0..LAYERS {
        for (name, shape) in [
            ("attn_q", [HIDDEN, HIDDEN]),
            ("attn_k", [kv, HIDDEN]),
            ("attn_v", [kv, HIDDEN]),
            ("attn_output", [HIDDEN, HIDDEN]),
            ("ffn_gate", [INTER, HIDDEN]),
            ("ffn_up", [INTER, HIDDEN]),
            ("ffn_down", [HIDDEN, INTER]),
        ] {
            tensors.push((format!("blk.{i}.{name}.weight"), q(random(&mut rng, &shape, 0.4, 0.0)?)?));
        }
        tensors.push((format!("blk.{i}.attn_norm.weight"), q(random(&mut rng, &[HIDDEN], 0.2, 1.0)?)?));
        tensors.push((format!("blk.{i}.ffn_norm.weight"), q(random(&mut rng, &[HIDDEN], 0.2, 1.0)?)?));
    }
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(LAYERS as u32)),
        ("llama.embedding_length", Value::U32(HIDDEN as u32)),
        ("llama.feed_forward_length", Value::U32(INTER as u32)),
        ("llama.attention.head_count", Value::U32(HEADS as u32)),
        ("llama.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
        ("llama.rope.freq_base", Value::F32(10_000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.context_length", Value::U32(CONTEXT as u32)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        ("tokenizer.ggml.tokens", strings(&tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types.iter().map(|&t| Value::I32(t)).collect())),
        ("tokenizer.ggml.merges", strings(&merges.map(String::from))),
        ("tokenizer.ggml.bos_token_id", Value::U32((vocab - 2) as u32)),
        ("tokenizer.ggml.eos_token_id", Value::U32((vocab - 1) as u32)),
    ];
    let path = dir.join("tiny-llama.gguf");
    let mut file = std::fs::File::create(&path).map_err(|e| LlmError::io(&path, e))?;
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &md, &ts)?;
    Ok(path)
}
