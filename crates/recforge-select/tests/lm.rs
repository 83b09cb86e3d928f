//! The experiment's byte-level LM: causal (a later byte never changes earlier logits) and it
//! learns (held-out perplexity on text like its training text falls well below 256).

use burn::prelude::*;
use recforge_data::Silent;
use recforge_select::lm::{ByteLmConfig, LmTrainConfig, perplexity, train_lm};

fn bytes(text: &[u8], device: &Device) -> Tensor<2, Int> {
    let data: Vec<i64> = text.iter().map(|&b| b as i64).collect();
    Tensor::<2, Int>::from_data(TensorData::new(data, [1, text.len()]), device)
}

#[test]
fn later_bytes_do_not_change_earlier_logits() {
    let device = Device::default();
    let lm = ByteLmConfig::new().with_context(16).with_d_model(16).with_d_ff(32).init(&device);
    let a = lm.forward(bytes(b"hello world, abc", &device)).into_data().try_to_vec::<f32>().unwrap();
    let b = lm.forward(bytes(b"hello world, xyz", &device)).into_data().try_to_vec::<f32>().unwrap();
    let prefix = 13 * 256; // positions 0..13 see only "hello world, "
    for i in 0..prefix {
        assert!((a[i] - b[i]).abs() < 1e-5, "logit {i} changed: {} vs {}", a[i], b[i]);
    }
    assert!(a[prefix..].iter().zip(&b[prefix..]).any(|(x, y)| (x - y).abs() > 1e-4));
}

#[test]
fn training_lowers_perplexity() {
    let texts: Vec<String> = (0..50).map(|i| format!("the cat sat on the mat number {i}. ")).collect();
    let config = ByteLmConfig::new().with_context(16).with_d_model(32).with_d_ff(64);
    let untrained = train_lm(&texts, &config, &LmTrainConfig { steps: 1, batch: 4, lr: 1e-9, seed: 1 }, "lm", &Silent).unwrap();
    let trained = train_lm(&texts, &config, &LmTrainConfig { steps: 150, batch: 16, lr: 1e-2, seed: 1 }, "lm", &Silent).unwrap();
    let held = vec!["the cat sat on the mat number 77. the cat sat on the mat".to_string()];
    let before = perplexity(&untrained, &held, 16, 8).unwrap();
    let after = perplexity(&trained, &held, 16, 8).unwrap();
    assert!(before > 100.0, "an untrained byte model is near uniform: {before}");
    assert!(after < 10.0, "trained perplexity {after}");
}

