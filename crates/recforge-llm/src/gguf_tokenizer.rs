//! Rebuilds a Hugging Face `tokenizers::Tokenizer` from a GGUF file's metadata.
//!
//! GGUF files carry their tokenizer as arrays (`tokenizer.ggml.tokens`, `.token_type`, `.merges`)
//! rather than as a `tokenizer.json`. For GPT-2 style byte-level BPE models (SmolLM2, Llama 3,
//! Qwen) this module turns those arrays into a BPE model with a byte-level pre-tokenizer and
//! decoder, and registers the control tokens (`token_type == 3`, e.g. ChatML's `<|im_start|>`)
//! as special tokens so that they map to single ids. llama.cpp's `smollm` pre-tokenizer splits
//! digits one by one before the GPT-2 regex; `Digits(individual)` reproduces it.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

use crate::LlmError;

/// GGUF token type of control tokens (llama.cpp's `LLAMA_TOKEN_TYPE_CONTROL`).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of user-defined tokens, also matched whole.
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The tokenizer and the special ids read from a GGUF file.
pub struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub chat_template: Option<String>,
}

fn strings(content: &Content, key: &str, path: &Path) -> Result<Vec<String>, LlmError> {
    let value = content
        .metadata
        .get(key)
        .ok_or_else(|| LlmError::bad_model(path, format!("GGUF metadata has no `{key}`")))?;
    let items = value
        .to_vec()
        .map_err(|e| LlmError::bad_model(path, format!("`{key}` is not an array: {e}")))?;
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(LlmError::bad_model(path, format!("`{key}` holds a non-string {other:?}"))),
        })
        .collect()
}

fn token_types(content: &Content, n: usize) -> Vec<i32> {
    content
        .metadata
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|items| items.iter().map(|v| v.to_i32().unwrap_or(1)).collect())
        .unwrap_or_else(|| vec![1; n])
}

fn optional_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

/// Builds the tokenizer from the metadata of `content` (read from `path`, named in errors).
pub fn tokenizer_from_gguf(content: &Content, path: &Path) -> Result<GgufTokenizer, LlmError> {
    let model = content
        .metadata
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if model != "gpt2" {
        return Err(LlmError::bad_model(
            path,
            format!("tokenizer model `{model}` is not supported (only GPT-2 byte-level BPE, `gpt2`)"),
        ));
    }
    let tokens = strings(content, "tokenizer.ggml.tokens", path)?;
    let merges = strings(content, "tokenizer.ggml.merges", path)?;
    let types = token_types(content, tokens.len());
    let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges = merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| LlmError::bad_model(path, format!("merge {i} `{m}` has no space")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| LlmError::Tokenizer(format!("{}: {e}", path.display())))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let pre = content
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    let byte_level = ByteLevel::new(false, true, true);
    let pre_tokenizer: PreTokenizerWrapper = if pre == "smollm" {
        Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into()
    } else {
        byte_level.into()
    };
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let specials: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL || **t == TOKEN_TYPE_USER_DEFINED)
        .map(|(token, _)| AddedToken::from(token.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| LlmError::Tokenizer(format!("{}: {e}", path.display())))?;
    Ok(GgufTokenizer {
        tokenizer,
        bos_id: optional_u32(content, "tokenizer.ggml.bos_token_id"),
        eos_id: optional_u32(content, "tokenizer.ggml.eos_token_id"),
        chat_template: content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .cloned(),
    })
}
