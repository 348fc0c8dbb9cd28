//! [`Gpt`]: token embedding, position information, the blocks, a final norm and the output
//! projection to logits. Field names follow GPT-2's checkpoints (`wte`, `h.{i}`, `ln_f`).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Dropout, DropoutConfig, Embedding, Linear};
use burn::prelude::*;

use crate::block::Block;
use crate::config::ModelConfig;
use crate::init::{INIT_STD, embedding, linear};
use crate::norm::Norm;
use crate::position::PositionEmbedding;

/// A decoder-only Transformer language model.
#[derive(Module, Debug)]
pub struct Gpt {
    /// Token embedding, `[vocab, d_model]`.
    pub wte: Embedding,
    /// Position information.
    pub wpe: PositionEmbedding,
    /// Dropout on the embeddings (training only).
    pub drop: Dropout,
    /// The blocks.
    pub h: Vec<Block>,
    /// Final norm.
    pub ln_f: Norm,
    /// Output projection `[d_model, vocab]`; `None` when tied to `wte`.
    pub lm_head: Option<Linear>,
    context_length: usize,
}

impl Gpt {
    pub(crate) fn new(config: &ModelConfig, device: &Device) -> Self {
        Gpt {
            wte: embedding(config.vocab_size, config.d_model, device),
            wpe: PositionEmbedding::new(config, device),
            drop: DropoutConfig::new(config.dropout).init(),
            h: (0..config.n_layer)
                .map(|_| Block::new(config, device))
                .collect(),
            ln_f: Norm::new(config, device),
            lm_head: (!config.tie_embeddings)
                .then(|| linear(config.d_model, config.vocab_size, false, INIT_STD, device)),
            context_length: config.context_length,
        }
    }

    /// The longest sequence the model accepts.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Next-token logits for every position.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` with `seq <= context_length` -> `[batch, seq, vocab]`
    ///
    /// # Panics
    ///
    /// If `seq` exceeds the context length.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = tokens.dims();
        assert!(
            seq <= self.context_length,
            "sequence of {seq} tokens exceeds the context length {}",
            self.context_length
        );
        let x = self.wpe.add_to(self.wte.forward(tokens), 0);
        let mut x = self.drop.forward(x);
        let rope = self.wpe.rope();
        for block in &self.h {
            x = block.forward(x, rope, 0);
        }
        self.project(self.ln_f.forward(x))
    }

    /// Logits from the final hidden states, through `lm_head` or the tied embedding.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, vocab]`
    fn project(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => head.forward(x),
            None => {
                let [vocab, d_model] = self.wte.weight.dims();
                x.matmul(
                    self.wte
                        .weight
                        .val()
                        .transpose()
                        .reshape([1, d_model, vocab]),
                )
            }
        }
    }

    /// Mean cross-entropy of predicting `targets` (the inputs shifted by one).
    ///
    /// # Shapes
    /// - inputs, targets: `[batch, seq]` -> `[1]`
    pub fn loss(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<1> {
        let logits = self.forward(inputs);
        let [batch, seq, vocab] = logits.dims();
        let device = logits.device();
        CrossEntropyLossConfig::new().init(&device).forward(
            logits.reshape([batch * seq, vocab]),
            targets.reshape([batch * seq]),
        )
    }
}
