//! llama.cpp's corrections to what converted vocabularies say about their tokens, applied the
//! same way so that the same text gives the same ids: tokens whose text marks them as end of
//! turn or fill-in-the-middle become control tokens (matched in text only when special tokens
//! are parsed), the end-of-generation set, and the white-space stripping around Phi-3's special
//! tokens.
//!
//! Where llama.cpp picks "the first" matching token from a hash map, we take the lowest id.

use std::collections::BTreeSet;

use super::config::{IdSlot, SpecialIds};
use super::vocab::{Attr, Vocab};

/// Texts that mark an end-of-turn token.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
/// Texts that end generation.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];
/// gpt-oss tokens that are always rendered.
const ALWAYS_RENDERED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// Applies the corrections to `vocab`'s attributes and fills unset special ids found by text;
/// returns the end-of-generation ids. `model_name` is `general.name`.
pub(crate) fn apply(vocab: &mut Vocab, ids: &mut SpecialIds, model_name: &str) -> BTreeSet<u32> {
    let categories: [(&[&str], IdSlot); 8] = [
        (EOT_TEXTS, |s| &mut s.eot),
        (&["<|eom_id|>"], |s| &mut s.eom),
        (FIM_PRE_TEXTS, |s| &mut s.fim_pre),
        (FIM_SUF_TEXTS, |s| &mut s.fim_suf),
        (FIM_MID_TEXTS, |s| &mut s.fim_mid),
        (FIM_PAD_TEXTS, |s| &mut s.fim_pad),
        (FIM_REP_TEXTS, |s| &mut s.fim_rep),
        (FIM_SEP_TEXTS, |s| &mut s.fim_sep),
    ];
    for (texts, slot) in categories {
        if slot(ids).is_some() {
            continue;
        }
        if let Some(id) = texts.iter().filter_map(|text| vocab.id(text)).min() {
            *slot(ids) = Some(id);
            vocab.attrs[id as usize] = vocab.attrs[id as usize].with(Attr::CONTROL);
        }
    }
    for id in 0..vocab.len() {
        let attr = vocab.attrs[id];
        if attr.has(Attr::CONTROL) && vocab.texts[id].contains("unused") {
            vocab.attrs[id] = attr.with(Attr::UNUSED);
        }
    }
    let mut eog: BTreeSet<u32> = [ids.fim_pad, ids.fim_rep, ids.fim_sep]
        .into_iter()
        .flatten()
        .collect();
    let named: Vec<u32> = EOG_TEXTS.iter().filter_map(|text| vocab.id(text)).collect();
    for id in named {
        eog.insert(id);
        vocab.attrs[id as usize] = vocab.attrs[id as usize].with(Attr::CONTROL);
    }
    for text in ALWAYS_RENDERED {
        vocab.update_attr(text, |_| Attr::USER_DEFINED);
    }
    eog.extend([ids.eos, ids.eot, ids.eom].into_iter().flatten());
    // o200k_harmony and solar-open: "<|end|>" ends a message, not generation.
    let in_eog = |vocab: &Vocab, eog: &BTreeSet<u32>, text: &str| {
        vocab.id(text).filter(|id| eog.contains(id))
    };
    let has_call = in_eog(vocab, &eog, "<|call|>").or(in_eog(vocab, &eog, "<|calls|>"));
    if let Some(end) = in_eog(vocab, &eog, "<|end|>")
        && has_call.is_some()
        && (in_eog(vocab, &eog, "<|return|>").is_some()
            || in_eog(vocab, &eog, "<|flush|>").is_some())
    {
        eog.remove(&end);
        vocab.attrs[end as usize] = Attr::USER_DEFINED;
    }
    // Gemma 4 and PaddleOCR: "</s>" is an ordinary token there.
    if in_eog(vocab, &eog, "<|tool_response>").is_some()
        && let Some(s) = in_eog(vocab, &eog, "</s>")
    {
        eog.remove(&s);
        vocab.attrs[s as usize] = Attr::NORMAL;
    }
    let name = model_name.to_lowercase();
    if name.contains("phi-3") || name.contains("phi3") {
        for id in 0..vocab.len() as u32 {
            if vocab.is_special(id) {
                vocab.attrs[id as usize] = vocab.attrs[id as usize].with(Attr::RSTRIP);
            }
        }
        vocab.update_attr("</s>", |a| a.with(Attr::RSTRIP));
        for text in ["<unk>", "<s>", "<|endoftext|>"] {
            vocab.update_attr(text, |a| a.without(Attr::RSTRIP));
        }
    }
    eog
}
