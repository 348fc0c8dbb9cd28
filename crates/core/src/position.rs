//! Position information: learned or sinusoidal embeddings added to the tokens, or rotary
//! embeddings applied to queries and keys.

use burn::nn::{
    Embedding, PositionalEncoding, PositionalEncodingConfig, RotaryEncoding, RotaryEncodingConfig,
};
use burn::prelude::*;

use crate::config::{ModelConfig, Positions};
use crate::init::embedding;

/// How the model knows where a token is.
// One per model: the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum PositionEmbedding {
    /// A learned vector per position (GPT-2's `wpe`).
    Learned(Embedding),
    /// Fixed sinusoids (no parameters).
    Sinusoidal(PositionalEncoding),
    /// Rotary embeddings (no parameters), used inside attention. burn rotates interleaved pairs
    /// `(x[2i], x[2i+1])`.
    Rope(RotaryEncoding),
}

impl PositionEmbedding {
    /// The position scheme of `config`.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        match config.positions {
            Positions::Learned => {
                PositionEmbedding::Learned(embedding(config.context_length, config.d_model, device))
            }
            Positions::Sinusoidal => PositionEmbedding::Sinusoidal(
                PositionalEncodingConfig::new(config.d_model)
                    .with_max_sequence_size(config.context_length)
                    .init(device),
            ),
            Positions::Rope => PositionEmbedding::Rope(rotary(
                config,
                config.rope_theta,
                config.rope_scale,
                device,
            )),
        }
    }

    /// The rotary encoding of a sliding-window model's local layers (their own base, no
    /// scaling), when the model has rotary positions and local layers.
    pub fn local_rope(config: &ModelConfig, device: &Device) -> Option<RotaryEncoding> {
        let window = config.sliding_window?;
        (config.positions == Positions::Rope)
            .then(|| rotary(config, window.rope_theta, None, device))
    }

    /// Adds absolute position embeddings for positions `start..start + seq` (a no-op for RoPE).
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub fn add_to(&self, x: Tensor<3>, start: usize) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        match self {
            PositionEmbedding::Learned(wpe) => {
                let device = x.device();
                let positions =
                    Tensor::<1, Int>::arange(start as i64..(start + seq) as i64, &device)
                        .reshape([1, seq])
                        .expand([batch, seq]);
                x + wpe.forward(positions)
            }
            PositionEmbedding::Sinusoidal(encoding) => {
                let [_, max, d] = encoding.sinusoids.dims();
                assert!(
                    start + seq <= max,
                    "position {} beyond the context {max}",
                    start + seq
                );
                let table = encoding
                    .sinusoids
                    .clone()
                    .slice(s![.., start..start + seq, ..]);
                x + table.reshape([1, seq, d])
            }
            PositionEmbedding::Rope(_) => x,
        }
    }

    /// Adds absolute position embeddings for one token per row, row `b` at `positions[b]`
    /// (a no-op for RoPE).
    ///
    /// # Shapes
    /// - x: `[rows, 1, d_model]`, positions: `[rows]` -> `[rows, 1, d_model]`
    pub fn add_at(&self, x: Tensor<3>, positions: &Tensor<1, Int>) -> Tensor<3> {
        let [rows, _, d_model] = x.dims();
        match self {
            PositionEmbedding::Learned(wpe) => {
                x + wpe.forward(positions.clone().reshape([rows, 1]))
            }
            PositionEmbedding::Sinusoidal(encoding) => {
                let table = encoding.sinusoids.clone().select(1, positions.clone());
                x + table.reshape([rows, 1, d_model])
            }
            PositionEmbedding::Rope(_) => x,
        }
    }

    /// The rotary encoding, when positions are rotary.
    pub fn rope(&self) -> Option<&RotaryEncoding> {
        match self {
            PositionEmbedding::Rope(rope) => Some(rope),
            _ => None,
        }
    }
}

/// Rotary positions over `config`'s head width with base `theta`; with a linear `scale`, every
/// frequency is divided by it (positions count `scale` times slower).
fn rotary(config: &ModelConfig, theta: f32, scale: Option<f32>, device: &Device) -> RotaryEncoding {
    let rope =
        RotaryEncodingConfig::new(config.context_length, config.head_dim()).with_theta(theta);
    match scale {
        Some(scale) => rope.init_with_frequency_scaling(move |freqs| freqs / scale, device),
        None => rope.init(device),
    }
}

#[cfg(test)]
mod tests {
    //! Known answers. The numbers between the markers come from
    //! `python3 crates/core/tests/data/known_answers.py position` (float64 numpy,
    //! independent of burn); the script also checks that every mistake named below moves some
    //! output by at least ten times the tolerance.

    use super::*;
    use crate::config::Positions;
    use crate::known_answers::{assert_close, tensor};
    use claude_tensors::kernels::rotate_rows_at;

    // BEGIN known_answers.py output
    // shape 1x2x5x4
    #[rustfmt::skip]
    const ROPE_X: [f32; 40] = [
        -0.75, 1.0, 0.0, -1.0,
        0.0, -1.0, 0.75, -0.25,
        0.75, -0.25, -1.25, 0.5,
        -1.25, 0.5, -0.5, 1.25,
        -0.5, 1.25, 0.25, -0.75,
        0.25, -0.75, 1.0, 0.0,
        1.0, 0.0, -1.0, 0.75,
        -1.0, 0.75, -0.25, -1.25,
        -0.25, -1.25, 0.5, -0.5,
        0.5, -0.5, 1.25, 0.25,
    ];
    // shape 1x2x3x8
    #[rustfmt::skip]
    const THETA_X: [f32; 48] = [
        -1.0, -0.25, 0.5, 1.25, -0.75, 0.0, 0.75, -1.25,
        0.25, 1.0, -1.0, -0.25, 0.5, 1.25, -0.75, 0.0,
        -1.25, -0.5, 0.25, 1.0, -1.0, -0.25, 0.5, 1.25,
        0.0, 0.75, -1.25, -0.5, 0.25, 1.0, -1.0, -0.25,
        1.25, -0.75, 0.0, 0.75, -1.25, -0.5, 0.25, 1.0,
        -0.25, 0.5, 1.25, -0.75, 0.0, 0.75, -1.25, -0.5,
    ];
    // shape 3x2x1x4
    #[rustfmt::skip]
    const ROW_X: [f32; 24] = [
        -0.5, 0.75, -0.75, 0.5,
        0.0, 1.25, -0.25, 1.0,
        0.5, -1.0, 0.25, -1.25,
        1.0, -0.5, 0.75, -0.75,
        -1.25, 0.0, 1.25, -0.25,
        -0.75, 0.5, -1.0, 0.25,
    ];
    // shape 1x2x5x4
    #[rustfmt::skip]
    const ROPE_AT_0: [f64; 40] = [
        -0.7500000000, 1.0000000000, 0.0000000000, -1.0000000000,
        0.8414709848, -0.5403023059, 0.7524624586, -0.2424876251,
        -0.0847857707, 0.7860097793, -1.2597493417, 0.4749016700,
        1.1669306167, -0.6713962584, -0.5372693921, 1.2344397921,
        1.2728249296, -0.4386532784, 0.2797920273, -0.7394027464,
        0.2500000000, -0.7500000000, 1.0000000000, 0.0000000000,
        0.5403023059, 0.8414709848, -1.0074498754, 0.7399626670,
        -0.2658262336, -1.2214075542, -0.2249516683, -1.2547496750,
        0.4238981342, 1.2022106187, 0.5147727670, -0.4847772668,
        -0.7052230581, -0.0515794372, 1.2390027998, 0.2997866944,
    ];
    // shape 1x2x5x4
    #[rustfmt::skip]
    const ROPE_AT_START: [f64; 40] = [
        0.6013743644, -1.0958325026, 0.0299955002, -0.9995500337,
        -0.7568024953, 0.6536436209, 0.7593974135, -0.2198080260,
        -0.0269844296, -0.7901087524, -1.2734274101, 0.4369011686,
        -1.0605051092, 0.8293545161, -0.5740552781, 1.2177686717,
        -1.1981843756, 0.6138845186, 0.3018448856, -0.7306775384,
        -0.1416581181, 0.7777743745, 0.9995500337, 0.0299955002,
        -0.6536436209, -0.7568024953, -1.0291921073, 0.7094107458,
        0.4355310205, 1.1716709138, -0.1872136035, -1.2609326178,
        -0.5893119444, -1.1303589838, 0.5290822732, -0.4691182667,
        0.7054444265, -0.0484578278, 1.2294530385, 0.3368163092,
    ];
    // shape 1x2x3x8
    #[rustfmt::skip]
    const THETA_ROTATED: [f64; 48] = [
        0.6434711933, -0.8052607177, 0.0334525596, 1.3458755241,
        -0.7485004999, -0.0474025484, 0.7640108031, -1.2414860018,
        -0.3886181322, -0.9547124946, -0.7339066158, -0.7237962968,
        0.3793440728, 1.2917422632, -0.7498932757, -0.0126520797,
        0.4386532784, 1.2728249296, -0.4634514588, 0.9207131721,
        -0.9604721443, -0.3741567318, 0.4717588189, 1.2609296637,
        -0.6819730701, -0.3121101274, -0.9976702482, -0.9039657493,
        0.1862967687, 1.0138015161, -0.9971251078, -0.2612307782,
        -1.1316506147, 0.9188943825, -0.3814021008, 0.6457804871,
        -1.1970161718, -0.6161593012, 0.2330949857, 1.0040750608,
        0.5418121529, -0.1376211866, 1.4365037159, 0.2479053734,
        -0.0946155499, 0.7440079957, -1.2384379075, -0.5279882095,
    ];
    // shape 3x2x1x4
    #[rustfmt::skip]
    const ROWS_ROTATED: [f64; 24] = [
        0.8944236819, -0.1118314680, -0.7693947471, 0.4696080527,
        0.9460031191, -0.8170545261, -0.2897893609, 0.9892027731,
        0.5000000000, -1.0000000000, 0.2500000000, -1.2500000000,
        1.0000000000, -0.5000000000, 0.7500000000, -0.7500000000,
        1.1389128274, -0.5151481066, 1.2674105536, -0.1366399968,
        0.4772884538, -0.7646539949, -1.0184223703, 0.1591096341,
    ];
    // END known_answers.py output

    /// The model's rotary positions: `n_head` heads over `d_model`, context 16.
    fn rope_positions(d_model: usize, rope_theta: f32, device: &Device) -> PositionEmbedding {
        let config = ModelConfig {
            context_length: 16,
            n_head: 2,
            d_model,
            positions: Positions::Rope,
            rope_theta,
            ..ModelConfig::default()
        };
        PositionEmbedding::new(&config, device)
    }

    /// Positions 0..5 of 2 heads x head_dim 4 (default theta 10000): pair `(x[2i], x[2i+1])`
    /// turns by `p * 10000^(-2i/4)`, `(a, b) -> (a cos - b sin, a sin + b cos)`.
    ///
    /// Catches: half-split pairs `(x[i], x[i + d/2])` (GPT-NeoX / Hugging Face layout), rotation
    /// the other way, frequencies over d_model (8) instead of head_dim, exponent `i/d` instead of
    /// `2i/d`, and positions counted from 1.
    #[test]
    fn rope_rotates_interleaved_pairs() {
        let device = Device::flex();
        let positions = rope_positions(8, 10_000.0, &device);
        let rope = positions.rope().expect("rotary positions");
        let y = rope.apply(tensor(&ROPE_X, [1, 2, 5, 4], &device), 0);
        assert_close(y, [1, 2, 5, 4], &ROPE_AT_0);
    }

    /// The same input at positions 3..8 (`apply`'s start offset, as when prefilling after a cache).
    ///
    /// Catches: the start offset ignored, off by one, and half-split pairs.
    #[test]
    fn rope_rotates_from_a_start_offset() {
        let device = Device::flex();
        let positions = rope_positions(8, 10_000.0, &device);
        let rope = positions.rope().expect("rotary positions");
        let y = rope.apply(tensor(&ROPE_X, [1, 2, 5, 4], &device), 3);
        assert_close(y, [1, 2, 5, 4], &ROPE_AT_START);
    }

    /// `ModelConfig::rope_theta` 1000 with 2 heads x head_dim 8 (four frequencies
    /// `1000^(-2i/8)`), positions 2..5.
    ///
    /// Catches: theta ignored (the default 10000), half-split pairs, frequencies over d_model
    /// (16) instead of head_dim, and exponent `i/d` instead of `2i/d`.
    #[test]
    fn rope_uses_the_configured_theta() {
        let device = Device::flex();
        let positions = rope_positions(16, 1000.0, &device);
        let rope = positions.rope().expect("rotary positions");
        let y = rope.apply(tensor(&THETA_X, [1, 2, 3, 8], &device), 2);
        assert_close(y, [1, 2, 3, 8], &THETA_ROTATED);
    }

    /// `rotate_rows_at` (decoding, our kernel on Flex): row `b` of `[3, 2 heads, 1, 4]` at its
    /// own position 4, 0 and 9.
    ///
    /// Catches: every row at the first row's position, rows at their index, half-split pairs, and
    /// rotation the other way.
    #[test]
    fn rotate_at_rotates_each_row_by_its_own_position() {
        let device = Device::flex();
        let positions = rope_positions(8, 10_000.0, &device);
        let rope = positions.rope().expect("rotary positions");
        let y = rotate_rows_at(rope, tensor(&ROW_X, [3, 2, 1, 4], &device), &[4, 0, 9]);
        assert_close(y, [3, 2, 1, 4], &ROWS_ROTATED);
    }

    /// With RoPE nothing is added to the token embeddings.
    #[test]
    fn rope_adds_nothing_to_the_embeddings() {
        let device = Device::flex();
        let positions = rope_positions(8, 10_000.0, &device);
        let x = tensor(&ROPE_X, [1, 5, 8], &device);
        let x_f64: Vec<f64> = ROPE_X.iter().map(|&v| f64::from(v)).collect();
        assert_close(positions.add_to(x.clone(), 3), [1, 5, 8], &x_f64);
        let at = Tensor::<1, Int>::from_data(TensorData::new(vec![4i32, 0, 9, 1, 2], [5]), &device);
        let rows = x.reshape([5, 1, 8]);
        assert_close(positions.add_at(rows, &at), [5, 1, 8], &x_f64);
    }
}
