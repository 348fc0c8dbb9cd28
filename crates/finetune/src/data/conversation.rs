//! A record as an [`Example`]: a conversation rendered with its chat template, the assistant's
//! spans marked (the rule is in the [module docs](super)); plain text, every token marked.

use claude_inference::{ChatMessage, ChatTemplate};
use claude_tokenizer::Tokenizer;

use super::Example;
use super::error::Fault;

/// The example for the conversation `messages` with `tools`, where `trained[i]` says whether
/// message `i` is an assistant message whose tokens count.
pub(crate) fn conversation_example(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    messages: &[ChatMessage],
    trained: &[bool],
    tools: &[serde_json::Value],
) -> Result<Example, Fault> {
    let mut pieces = Pieces::new(template, tokenizer);
    let mut done = String::new();
    for (index, _) in trained.iter().enumerate().filter(|(_, counts)| **counts) {
        let prompt = template.render_conversation_with(&messages[..index], tools, true)?;
        let through = template.render_conversation_with(&messages[..=index], tools, false)?;
        let context = prompt.strip_prefix(done.as_str()).ok_or(Fault::NotPrefix {
            message: index,
            what: "the prompt for this reply does not start with the conversation through the \
                   previous assistant message",
        })?;
        let reply = through
            .strip_prefix(prompt.as_str())
            .ok_or(Fault::NotPrefix {
                message: index,
                what: "the conversation through this message does not start with the prompt for it",
            })?;
        pieces.push(context, false)?;
        pieces.push_reply(reply)?;
        done = through;
    }
    Ok(pieces.example)
}

/// The example for plain `text`: its tokens (as [`Tokenizer::encode`] gives them, BOS included
/// where the tokenizer adds one) then the end-of-text token if the tokenizer has one; every
/// token but the first counts.
pub(crate) fn text_example(tokenizer: &Tokenizer, text: &str) -> Result<Example, Fault> {
    let mut tokens = tokenizer.encode(text)?;
    if let Some(eos) = tokenizer.end_of_text()
        && tokens.last() != Some(&eos)
    {
        tokens.push(eos);
    }
    let targets_mask = (0..tokens.len()).map(|i| i > 0).collect();
    Ok(Example {
        tokens,
        targets_mask,
    })
}

/// An example built piece by piece.
struct Pieces<'a> {
    template: &'a ChatTemplate,
    tokenizer: &'a Tokenizer,
    example: Example,
}

impl<'a> Pieces<'a> {
    /// No pieces yet.
    fn new(template: &'a ChatTemplate, tokenizer: &'a Tokenizer) -> Self {
        Pieces {
            template,
            tokenizer,
            example: Example {
                tokens: Vec::new(),
                targets_mask: Vec::new(),
            },
        }
    }

    /// An assistant's reply: counted through its end-of-turn marker (see the module docs).
    fn push_reply(&mut self, reply: &str) -> Result<(), Fault> {
        if let Some(marker) = self.template.end_of_turn()
            && let Some(at) = reply.rfind(marker)
        {
            let (counted, tail) = reply.split_at(at + marker.len());
            self.push(counted, true)?;
            return self.push(tail, false);
        }
        let ids = self.encode(reply)?;
        let counted = ids
            .iter()
            .rposition(|&id| self.tokenizer.is_end_of_generation(id))
            .map_or(ids.len(), |last| last + 1);
        self.push_ids(&ids[..counted], true);
        self.push_ids(&ids[counted..], false);
        Ok(())
    }

    /// `text`'s tokens, counted or not.
    fn push(&mut self, text: &str, counted: bool) -> Result<(), Fault> {
        let ids = self.encode(text)?;
        self.push_ids(&ids, counted);
        Ok(())
    }

    /// `ids`, counted or not (the very first token never is: nothing predicts it).
    fn push_ids(&mut self, ids: &[u32], counted: bool) {
        let start = self.example.tokens.len();
        self.example.tokens.extend_from_slice(ids);
        self.example
            .targets_mask
            .extend((start..start + ids.len()).map(|i| counted && i > 0));
    }

    /// `text` encoded as the template encodes a rendered conversation, without the BOS that a
    /// tokenizer adds to every encoding unless this is the first piece (none for empty text).
    fn encode(&self, text: &str) -> Result<Vec<u32>, Fault> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = self.template.encode(self.tokenizer, text)?;
        if !self.example.tokens.is_empty()
            && self.template.special_tokens().is_none()
            && let Some(bos) = self.tokenizer.added_bos()
            && ids.first() == Some(&bos)
        {
            ids.remove(0);
        }
        Ok(ids)
    }
}
