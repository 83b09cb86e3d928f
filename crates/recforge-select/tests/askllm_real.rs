//! The real SmolLM2-135M-Instruct, through Ask-LLM, scores a clean encyclopedic paragraph
//! above a spam email. Ignored by default (the model is fetched, not shipped); `scripts/test.sh`
//! fetches it and runs every `fetched_*` test with `--ignored`; it fails when the file is absent.

use std::path::PathBuf;

use recforge_llm::CausalLm;
use recforge_select::Sampler;
use recforge_select::ask_llm::AskLlm;

fn model_path() -> PathBuf {
    let data = std::env::var("RECFORGE_DATA").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("../../data"));
    data.join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[test]
#[ignore = "needs the fetched SmolLM2 model (recforge data fetch --only smollm2); CI runs it"]
fn fetched_smollm2_prefers_an_encyclopedic_paragraph_to_spam() {
    let path = model_path();
    assert!(path.exists(), "{} is missing: run `recforge data fetch --only smollm2` (or set RECFORGE_DATA)", path.display());
    let sampler = AskLlm::new(CausalLm::load(&path).unwrap());
    let clean = "The Amazon River in South America is the largest river by discharge volume of water in the world. \
                 It flows through Peru, Colombia and Brazil before reaching the Atlantic Ocean, and its basin covers \
                 about seven million square kilometres, much of it tropical rainforest.";
    let spam = "CONGRATULATIONS!!! You have been SELECTED to receive a FREE $1000 gift card!!! Click here NOW to claim \
                your prize before it expires!!! Limited time offer, act now, no purchase necessary, unsubscribe below.";
    let scores = sampler.features(&[clean.to_string(), spam.to_string()]).unwrap();
    eprintln!("P(yes): clean {:.4}, spam {:.4}", scores[0][0], scores[1][0]);
    assert!(scores[0][0] > scores[1][0], "clean {} <= spam {}", scores[0][0], scores[1][0]);
}
