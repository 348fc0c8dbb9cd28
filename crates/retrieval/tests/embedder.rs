//! The sentence embedder against an independent float64 numpy implementation of
//! all-MiniLM-L6-v2 reading the same files (`tests/data/minilm_reference.py`).

use burn::prelude::*;
use claude_retrieval::SentenceEmbedder;

fn minilm() -> SentenceEmbedder {
    let dir = claude_files::shared_data_dir().join("models/all-minilm-l6-v2");
    SentenceEmbedder::load(&dir, &Device::flex()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn similar_sentences_are_close() {
    let embedder = minilm();
    assert_eq!(
        (embedder.dimension(), embedder.max_tokens()),
        (384, Some(256))
    );
    let e = embedder.embed(&[
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The new movie is awesome.",
    ]);
    let close = cosine(&e[0].vector, &e[1].vector);
    let far = cosine(&e[0].vector, &e[2].vector);
    eprintln!("{close} {far}");
    assert!(close > 0.5 && far < close, "{close} {far}");
}

/// The float64 reference: for each of 30 texts (empty, accents, CJK, emoji, odd whitespace, a
/// word over 100 characters, a text over 256 tokens...), its ids and its normalised vector.
fn reference() -> serde_json::Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn ids_and_vectors_match_a_float64_reference_within_1e_5() {
    let embedder = minilm();
    let reference = reference();
    let cases = reference["texts"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    // All at once: batched, padded to the longest text of each batch, masked.
    let embeddings = embedder.embed(&texts);
    let mut worst = 0.0f64;
    for (case, embedding) in cases.iter().zip(&embeddings) {
        let text = case["text"].as_str().unwrap();
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(embedder.tokenizer().encode(text).ids, ids, "{text:?}");
        assert_eq!(embedding.tokens, ids.len(), "{text:?}");
        assert_eq!(
            embedding.dropped > 0,
            case["truncated"].as_bool().unwrap(),
            "{text:?}"
        );
        for (ours, theirs) in embedding
            .vector
            .iter()
            .zip(case["embedding"].as_array().unwrap())
        {
            let diff = (f64::from(*ours) - theirs.as_f64().unwrap()).abs();
            worst = worst.max(diff);
            assert!(diff <= 1e-5, "{text:?}: {ours} vs {theirs}");
        }
    }
    eprintln!("largest difference from the float64 reference: {worst:.2e}");
    // One text alone gives the vector it gets inside a padded batch.
    let alone = embedder.embed(&texts[..1]);
    for (a, b) in alone[0].vector.iter().zip(&embeddings[0].vector) {
        assert!((a - b).abs() <= 1e-6);
    }
}
