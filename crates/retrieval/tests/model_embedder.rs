//! The fallback embedder on a real language model (SmolLM2-135M): unit vectors, the same in a
//! padded batch as alone (causal attention ignores the padding after a text), and similar
//! sentences nearer than unrelated ones.

use burn::prelude::*;
use claude_core::{Gpt, PackedArithmetic};
use claude_retrieval::{ModelEmbedder, TextEmbedder};
use claude_tokenizer::Tokenizer;

#[test]
fn mean_pooled_states_of_a_language_model_embed_sentences() {
    let path = claude_files::shared_data_dir()
        .join("models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let device = Device::flex();
    let mut model = Gpt::load(&path, &device).unwrap();
    // f32 arithmetic on the packed weights: the 8-bit activations of the fast path are summed
    // in another order by its batched kernel than by its one-row kernel.
    model.set_packed_arithmetic(PackedArithmetic::Exact);
    let tokenizer = Tokenizer::from_gguf(&path).unwrap();
    let embedder = ModelEmbedder::new(model, tokenizer, device, &path).unwrap();
    assert_eq!(embedder.identity().name, "SmolLM2-135M-Instruct.Q4_1");
    assert_eq!(embedder.identity().dimension, 576);
    let texts = [
        "The cat sat on the mat.",
        "A kitten was sitting on a small rug in the kitchen.",
        "Quarterly revenue rose by four percent.",
        "",
    ];
    let batched = embedder.embed_texts(&texts);
    for (text, embedding) in texts.iter().zip(&batched) {
        let alone = &embedder.embed_texts(&[text])[0];
        let norm: f32 = embedding.vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        // A text of no tokens has nothing to average: the zero vector.
        let expected = if embedding.tokens == 0 { 0.0 } else { 1.0 };
        assert!((norm - expected).abs() < 1e-4, "{text:?}: norm {norm}");
        let most = (embedding.vector.iter().zip(&alone.vector))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(most < 1e-4, "{text:?}: batched and alone differ by {most}");
        assert_eq!(embedding.tokens, alone.tokens);
    }
    let cosine = |a: usize, b: usize| -> f32 {
        (batched[a].vector.iter().zip(&batched[b].vector))
            .map(|(x, y)| x * y)
            .sum()
    };
    assert!(
        cosine(0, 1) > cosine(0, 2),
        "{} vs {}",
        cosine(0, 1),
        cosine(0, 2)
    );
    // Words are counted without the BOS the tokenizer adds to a whole text.
    assert_eq!(embedder.count_tokens("cat"), 1);
}
