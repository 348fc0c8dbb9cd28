//! The settings a GGUF tokenizer takes from `tokenizer.ggml.*`, with llama.cpp's defaults: the
//! model kind, the pre-tokenizer and its flags, the special-token ids and whether BOS / EOS are
//! added.

use claude_gguf::Metadata;

use super::error::{GgufError, GgufResult};
use super::pre::PreTokenizer;

/// The tokenizer model.
pub const MODEL_KEY: &str = "tokenizer.ggml.model";
/// The pre-tokenizer of a byte-level BPE model.
pub const PRE_KEY: &str = "tokenizer.ggml.pre";
/// The merges of a byte-level BPE model.
pub const MERGES_KEY: &str = "tokenizer.ggml.merges";
pub(crate) const ADD_BOS_KEY: &str = "tokenizer.ggml.add_bos_token";
pub(crate) const ADD_EOS_KEY: &str = "tokenizer.ggml.add_eos_token";
pub(crate) const ADD_SPACE_PREFIX_KEY: &str = "tokenizer.ggml.add_space_prefix";

/// Which tokenizer a GGUF file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// `gpt2`: byte-level BPE with merges and a pre-tokenizer (GPT-2, Llama 3, Qwen2, SmolLM).
    Bpe,
    /// `llama`: SentencePiece BPE by token scores, with byte fallback (Llama 1/2, Phi-3).
    Spm,
}

/// The special-token ids, each `None` when the vocabulary has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecialIds {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence.
    pub eos: Option<u32>,
    /// End of turn.
    pub eot: Option<u32>,
    /// End of message.
    pub eom: Option<u32>,
    /// Unknown.
    pub unk: Option<u32>,
    /// Separator.
    pub sep: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
    /// Mask.
    pub mask: Option<u32>,
    /// Fill-in-the-middle: prefix.
    pub fim_pre: Option<u32>,
    /// Fill-in-the-middle: suffix.
    pub fim_suf: Option<u32>,
    /// Fill-in-the-middle: middle.
    pub fim_mid: Option<u32>,
    /// Fill-in-the-middle: padding.
    pub fim_pad: Option<u32>,
    /// Fill-in-the-middle: repository.
    pub fim_rep: Option<u32>,
    /// Fill-in-the-middle: file separator.
    pub fim_sep: Option<u32>,
}

/// Everything besides the vocabulary that decides how text becomes ids and back.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) kind: ModelKind,
    /// The pre-tokenizer (byte-level BPE only).
    pub(crate) pre: Option<PreTokenizer>,
    /// Output a pre-token that is itself a token as that token, without merging (Llama 3).
    pub(crate) ignore_merges: bool,
    /// Detokenizing removes spaces before punctuation and contractions
    /// (`clean_up_tokenization_spaces`).
    pub(crate) clean_spaces: bool,
    /// SentencePiece: a space is put before the text (and removed again when decoding).
    pub(crate) add_space_prefix: bool,
    pub(crate) add_bos: bool,
    pub(crate) add_eos: bool,
    pub(crate) ids: SpecialIds,
    /// The `tokenizer.ggml.pre` text the file gives (written back as it was); `None` for a
    /// tokenizer from `tokenizer.json`.
    pub(crate) pre_name: Option<String>,
    /// The special ids as the file (or llama.cpp's defaults) gives them, before the fix-ups
    /// find more by their text: what a GGUF file of this tokenizer declares, so that the
    /// fix-ups run again, the same way, on reading it.
    pub(crate) declared_ids: SpecialIds,
}

/// A byte-level BPE pre-tokenizer name's settings.
struct PreConfig {
    pre: PreTokenizer,
    ignore_merges: bool,
    clean_spaces: bool,
    add_bos: bool,
}

/// The `tokenizer.ggml.pre` name for byte-level BPE with `pre`, `ignore_merges` and
/// `clean_spaces`: the name llama.cpp's converter writes for that pre-tokenizer (`gpt-2`,
/// `llama-bpe`, `qwen2`, `smollm`) when its settings match, else the first supported name with
/// the same settings, else (no name has them all) the converter's name for `pre` and
/// `ignore_merges`, so that ids stay the same and only the clean-up of spaces in decoding may
/// differ.
pub(crate) fn pre_name(pre: PreTokenizer, ignore_merges: bool, clean_spaces: bool) -> &'static str {
    let canonical = match (pre, ignore_merges) {
        (PreTokenizer::Default, _) => "default",
        (PreTokenizer::Gpt2, _) => "gpt-2",
        (PreTokenizer::Llama3, true) => "llama-bpe",
        (PreTokenizer::Llama3, false) => "dbrx",
        (PreTokenizer::Qwen2, _) => "qwen2",
        (PreTokenizer::SmolLm, _) => "smollm",
    };
    let settings = |name: &str| pre_config(name).map(|c| (c.pre, c.ignore_merges, c.clean_spaces));
    if settings(canonical) == Some((pre, ignore_merges, clean_spaces)) {
        return canonical;
    }
    PRE_NAMES
        .iter()
        .filter(|&&(_, p, ignore, clean, _)| {
            (p, ignore, clean) == (pre, ignore_merges, clean_spaces)
        })
        .flat_map(|(names, ..)| names.iter())
        .find(|name| !name.is_empty())
        .copied()
        .unwrap_or(canonical)
}

/// The `tokenizer.ggml.pre` names supported, with the settings llama.cpp gives each.
const PRE_NAMES: &[(&[&str], PreTokenizer, bool, bool, bool)] = &[
    // (names, pre-tokenizer, ignore_merges, clean_spaces, add_bos)
    (&["", "default"], PreTokenizer::Default, false, true, false),
    (
        &[
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "falcon-h1",
            "pixtral",
            "midm-2.0",
            "lfm2",
            "jina-v5-nano",
        ],
        PreTokenizer::Llama3,
        true,
        true,
        true,
    ),
    (
        &["dbrx", "smaug-bpe"],
        PreTokenizer::Llama3,
        false,
        true,
        false,
    ),
    (
        &[
            "gpt-2", "phi-2", "gigachat", "a.x-4.0", "mellum", "exaone4", "mpt", "olmo", "jais",
        ],
        PreTokenizer::Gpt2,
        false,
        true,
        false,
    ),
    (
        &["trillion", "granite-docling"],
        PreTokenizer::Gpt2,
        false,
        false,
        false,
    ),
    (
        &[
            "qwen2",
            "deepseek-r1-qwen",
            "kormo",
            "f2llmv2",
            "hunyuan",
            "solar-open",
        ],
        PreTokenizer::Qwen2,
        false,
        false,
        false,
    ),
    (
        &["megrez", "stablelm2"],
        PreTokenizer::Qwen2,
        false,
        true,
        false,
    ),
    (
        &["smollm", "command-r"],
        PreTokenizer::SmolLm,
        false,
        false,
        false,
    ),
    (
        &[
            "starcoder",
            "refact",
            "codeshell",
            "exaone",
            "minerva-7b",
            "mellum2",
        ],
        PreTokenizer::SmolLm,
        false,
        true,
        false,
    ),
];

fn pre_config(name: &str) -> Option<PreConfig> {
    PRE_NAMES
        .iter()
        .find(|(names, ..)| names.contains(&name))
        .map(
            |&(_, pre, ignore_merges, clean_spaces, add_bos)| PreConfig {
                pre,
                ignore_merges,
                clean_spaces,
                add_bos,
            },
        )
}

fn supported_pre_names() -> String {
    PRE_NAMES
        .iter()
        .flat_map(|(names, ..)| names.iter())
        .filter(|name| !name.is_empty())
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks one id of [`SpecialIds`].
pub(crate) type IdSlot = fn(&mut SpecialIds) -> &mut Option<u32>;

/// The keys of the special-token ids.
pub(crate) const ID_KEYS: &[(&str, IdSlot)] = &[
    ("tokenizer.ggml.bos_token_id", |s| &mut s.bos),
    ("tokenizer.ggml.eos_token_id", |s| &mut s.eos),
    ("tokenizer.ggml.eot_token_id", |s| &mut s.eot),
    ("tokenizer.ggml.eom_token_id", |s| &mut s.eom),
    ("tokenizer.ggml.unknown_token_id", |s| &mut s.unk),
    ("tokenizer.ggml.seperator_token_id", |s| &mut s.sep),
    ("tokenizer.ggml.padding_token_id", |s| &mut s.pad),
    ("tokenizer.ggml.mask_token_id", |s| &mut s.mask),
    ("tokenizer.ggml.fim_pre_token_id", |s| &mut s.fim_pre),
    ("tokenizer.ggml.fim_suf_token_id", |s| &mut s.fim_suf),
    ("tokenizer.ggml.fim_mid_token_id", |s| &mut s.fim_mid),
    ("tokenizer.ggml.fim_pad_token_id", |s| &mut s.fim_pad),
    ("tokenizer.ggml.fim_rep_token_id", |s| &mut s.fim_rep),
    ("tokenizer.ggml.fim_sep_token_id", |s| &mut s.fim_sep),
    // Older spellings of the FIM ids.
    ("tokenizer.ggml.prefix_token_id", |s| &mut s.fim_pre),
    ("tokenizer.ggml.suffix_token_id", |s| &mut s.fim_suf),
    ("tokenizer.ggml.middle_token_id", |s| &mut s.fim_mid),
];

impl Config {
    /// Reads the settings of a vocabulary of `n_tokens` tokens.
    pub(crate) fn load(metadata: &Metadata, n_tokens: usize) -> GgufResult<Config> {
        let path = metadata.path();
        let model = metadata.get_str(MODEL_KEY)?;
        let mut config = match model {
            "gpt2" => {
                let name = metadata.opt_str(PRE_KEY)?.unwrap_or("");
                let pre = pre_config(name).ok_or_else(|| GgufError::UnsupportedPre {
                    path: path.to_path_buf(),
                    pre: name.to_owned(),
                    supported: supported_pre_names(),
                })?;
                Config {
                    kind: ModelKind::Bpe,
                    pre: Some(pre.pre),
                    ignore_merges: pre.ignore_merges,
                    clean_spaces: pre.clean_spaces,
                    add_space_prefix: false,
                    add_bos: pre.add_bos,
                    add_eos: false,
                    // llama.cpp's defaults for BPE vocabularies.
                    ids: SpecialIds {
                        bos: Some(11),
                        eos: Some(11),
                        ..SpecialIds::default()
                    },
                    pre_name: metadata.opt_str(PRE_KEY)?.map(str::to_owned),
                    declared_ids: SpecialIds::default(),
                }
            }
            "llama" => Config {
                kind: ModelKind::Spm,
                pre: None,
                ignore_merges: false,
                clean_spaces: false,
                add_space_prefix: true,
                add_bos: true,
                add_eos: false,
                ids: SpecialIds {
                    bos: Some(1),
                    eos: Some(2),
                    unk: Some(0),
                    ..SpecialIds::default()
                },
                pre_name: metadata.opt_str(PRE_KEY)?.map(str::to_owned),
                declared_ids: SpecialIds::default(),
            },
            other => {
                return Err(GgufError::UnsupportedModel {
                    path: path.to_path_buf(),
                    model: other.to_owned(),
                });
            }
        };
        if let Some(prefix) = metadata.opt_bool(ADD_SPACE_PREFIX_KEY)? {
            config.add_space_prefix = prefix;
        }
        for (key, slot) in ID_KEYS {
            let slot = slot(&mut config.ids);
            // A default outside the vocabulary means there is no such token.
            if slot.is_some_and(|id| id as usize >= n_tokens) {
                *slot = None;
            }
            // An id outside the vocabulary is ignored, as llama.cpp does (with a warning).
            if let Some(id) = metadata.opt_uint(key)?
                && (id as usize) < n_tokens
            {
                *slot = Some(id as u32);
            }
        }
        if let Some(add) = metadata.opt_bool(ADD_BOS_KEY)? {
            config.add_bos = add;
        }
        if let Some(add) = metadata.opt_bool(ADD_EOS_KEY)? {
            config.add_eos = add;
        }
        for (add, id, key) in [
            (
                config.add_bos,
                config.ids.bos,
                "tokenizer.ggml.bos_token_id",
            ),
            (
                config.add_eos,
                config.ids.eos,
                "tokenizer.ggml.eos_token_id",
            ),
        ] {
            if add && id.is_none() {
                return Err(GgufError::Vocab {
                    path: path.to_path_buf(),
                    key,
                    message: "the token is to be added to every sequence, but there is none".into(),
                });
            }
        }
        config.declared_ids = config.ids;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_names_resolve() {
        assert_eq!(pre_config("llama-bpe").unwrap().pre, PreTokenizer::Llama3);
        assert!(pre_config("llama-bpe").unwrap().ignore_merges);
        assert_eq!(pre_config("smollm").unwrap().pre, PreTokenizer::SmolLm);
        assert!(!pre_config("qwen2").unwrap().clean_spaces);
        assert_eq!(pre_config("").unwrap().pre, PreTokenizer::Default);
        assert!(pre_config("bert-bge").is_none());
        assert!(supported_pre_names().contains("\"gpt-2\""));
    }

    #[test]
    fn pre_names_are_chosen_by_settings() {
        assert_eq!(pre_name(PreTokenizer::Llama3, true, true), "llama-bpe");
        assert_eq!(pre_name(PreTokenizer::Qwen2, false, false), "qwen2");
        assert_eq!(pre_name(PreTokenizer::SmolLm, false, false), "smollm");
        assert_eq!(pre_name(PreTokenizer::Gpt2, false, true), "gpt-2");
        // GPT-2's split without the clean-up of spaces, Qwen2's with it.
        assert_eq!(pre_name(PreTokenizer::Gpt2, false, false), "trillion");
        assert_eq!(pre_name(PreTokenizer::Qwen2, false, true), "megrez");
        // No name has Llama 3's split, ignore_merges and no clean-up: the ids decide.
        assert_eq!(pre_name(PreTokenizer::Llama3, true, false), "llama-bpe");
        for (names, pre, ignore, clean, _) in PRE_NAMES {
            let name = pre_name(*pre, *ignore, *clean);
            let c = pre_config(name).unwrap();
            assert_eq!(
                (c.pre, c.ignore_merges, c.clean_spaces),
                (*pre, *ignore, *clean),
                "{names:?}"
            );
        }
    }

    #[test]
    fn unknown_model_and_pre_are_named() {
        let mut m = Metadata::new("v.gguf");
        m.insert(MODEL_KEY, "bert");
        let err = Config::load(&m, 10).unwrap_err().to_string();
        assert!(err.contains("v.gguf") && err.contains("\"bert\""), "{err}");
        m.insert(MODEL_KEY, "gpt2");
        m.insert(PRE_KEY, "klingon");
        let err = Config::load(&m, 10).unwrap_err().to_string();
        assert!(
            err.contains("\"klingon\"") && err.contains("\"qwen2\""),
            "{err}"
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let mut m = Metadata::new("v.gguf");
        m.insert(MODEL_KEY, "llama");
        let c = Config::load(&m, 100).unwrap();
        assert_eq!(
            (c.ids.bos, c.ids.eos, c.ids.unk),
            (Some(1), Some(2), Some(0))
        );
        assert!(c.add_bos && c.add_space_prefix && !c.add_eos);
        m.insert("tokenizer.ggml.eos_token_id", 7u32);
        m.insert("tokenizer.ggml.bos_token_id", 1000u32);
        m.insert(ADD_BOS_KEY, false);
        let c = Config::load(&m, 100).unwrap();
        assert_eq!((c.ids.bos, c.ids.eos), (Some(1), Some(7)));
        assert!(!c.add_bos);
        let c = Config::load(&m, 1).unwrap();
        assert_eq!(c.ids.eos, None);
        m.insert(ADD_EOS_KEY, true);
        let err = Config::load(&m, 1).unwrap_err().to_string();
        assert!(err.contains("eos_token_id"), "{err}");
    }
}
