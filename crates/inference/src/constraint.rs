//! Constrained decoding: a request's [`Constraint`] (any JSON object, a JSON schema or a Lark
//! grammar) compiled by [`llguidance`] into a grammar that masks each step's logits, so that
//! the generated text always parses.
//!
//! A model gets one [`ConstraintCompiler`] (its vocabulary as a token trie, built once); each
//! request's constraint is compiled on the caller's thread ([`ConstraintCompiler::compile`]),
//! so that a bad schema is refused before the request queues; each sequence then walks its own
//! [`ConstraintMatcher`], which the generator asks for the allowed tokens before sampling and
//! tells which token was chosen after.

use std::fmt;
use std::sync::Arc;

use claude_tokenizer::{Tokenizer, gguf::TokenType};
use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory, TokenParser};
use serde_json::Value;
use toktrie::{TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};

/// What a request asks its output to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Any JSON object (OpenAI's `response_format: {"type": "json_object"}`).
    JsonObject,
    /// JSON that satisfies this JSON schema.
    JsonSchema(Value),
    /// Text in the language of this Lark grammar (llguidance's dialect, rule `start`).
    Lark(String),
}

/// Why a vocabulary or a constraint cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The tokenizer has no end-of-generation token, so a finished grammar could not end.
    #[error("the tokenizer has no end-of-generation token; constrained decoding needs one")]
    NoEndOfGeneration,
    /// The vocabulary could not be turned into a token trie.
    #[error("cannot use this vocabulary for constrained decoding: {0}")]
    Vocabulary(String),
    /// The JSON schema is malformed or uses what llguidance does not support (the message
    /// names it, e.g. `Unimplemented keys: ["uniqueItems"]`).
    #[error("invalid or unsupported JSON schema: {0}")]
    Schema(String),
    /// The Lark grammar does not parse or is not usable (the message says where and why).
    #[error("invalid Lark grammar: {0}")]
    Grammar(String),
}

/// Compiles constraints for one model's vocabulary. Build it once per model (it indexes every
/// token) and share it: compiling only reads it.
pub struct ConstraintCompiler {
    factory: ParserFactory,
}

impl fmt::Debug for ConstraintCompiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConstraintCompiler")
            .field(
                "vocab_size",
                &self.factory.tok_env().tok_trie().vocab_size(),
            )
            .finish()
    }
}

impl ConstraintCompiler {
    /// Indexes `tokenizer`'s vocabulary: every token's bytes, its special tokens marked as
    /// such (a grammar produces them only where it names them), its end-of-generation tokens
    /// as the tokens that end a finished grammar.
    pub fn new(tokenizer: &Tokenizer) -> Result<Self, ConstraintError> {
        let env = VocabularyEnv::new(tokenizer)?;
        let tok_env: TokEnv = Arc::new(env);
        let mut factory = ParserFactory::new_simple(&tok_env)
            .map_err(|e| ConstraintError::Vocabulary(e.to_string()))?;
        factory.quiet();
        // Errors name the problem without echoing the whole grammar and parser state.
        factory.limits_mut().verbose_errors = false;
        Ok(ConstraintCompiler { factory })
    }

    /// Compiles `constraint` into a grammar ready to start sequences.
    pub fn compile(&self, constraint: &Constraint) -> Result<CompiledConstraint, ConstraintError> {
        let (grammar, error): (_, fn(String) -> ConstraintError) = match constraint {
            Constraint::JsonObject => (
                TopLevelGrammar::from_json_schema(bounded_whitespace(
                    serde_json::json!({"type": "object"}),
                )),
                ConstraintError::Schema,
            ),
            Constraint::JsonSchema(schema) => (
                TopLevelGrammar::from_json_schema(bounded_whitespace(schema.clone())),
                ConstraintError::Schema,
            ),
            Constraint::Lark(grammar) => (
                TopLevelGrammar::from_lark(grammar.clone()),
                ConstraintError::Grammar,
            ),
        };
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| error(e.to_string()))?;
        Ok(CompiledConstraint {
            source: Arc::new(constraint.clone()),
            parser,
        })
    }
}

/// A compiled constraint: cheap to clone, sendable to the engine's thread; each sequence it
/// governs gets its own [`ConstraintMatcher`].
#[derive(Clone)]
pub struct CompiledConstraint {
    source: Arc<Constraint>,
    parser: TokenParser,
}

impl CompiledConstraint {
    /// What it was compiled from.
    pub fn source(&self) -> &Constraint {
        &self.source
    }

    /// A fresh matcher at the start of the grammar.
    pub fn matcher(&self) -> ConstraintMatcher {
        ConstraintMatcher {
            matcher: Matcher::new(Ok(self.parser.clone())),
        }
    }
}

impl fmt::Debug for CompiledConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CompiledConstraint")
            .field(&self.source)
            .finish()
    }
}

/// Equal when compiled from equal constraints.
impl PartialEq for CompiledConstraint {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// One sequence's position in its grammar.
pub struct ConstraintMatcher {
    matcher: Matcher,
}

impl fmt::Debug for ConstraintMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConstraintMatcher")
            .field("stopped", &self.matcher.is_stopped())
            .field("error", &self.matcher.get_error())
            .finish()
    }
}

impl ConstraintMatcher {
    /// Sets every token the grammar does not allow next to -inf (ids beyond `logits` are
    /// ignored). Returns `false`, leaving `logits` alone, when no token is allowed: the grammar
    /// is finished or broken and the sequence should end.
    pub fn mask(&mut self, logits: &mut [f32]) -> bool {
        if self.matcher.is_stopped() {
            return false;
        }
        let Ok(allowed) = self.matcher.compute_mask() else {
            return false;
        };
        if allowed.is_zero() {
            return false;
        }
        allowed.iter_unset_entries(|id| {
            if let Some(logit) = logits.get_mut(id) {
                *logit = f32::NEG_INFINITY;
            }
        });
        true
    }

    /// Advances past `token` (one the last [`mask`](Self::mask) allowed). Returns `false` when
    /// the grammar refuses it (it is then broken and allows nothing more).
    pub fn consume(&mut self, token: u32) -> bool {
        self.matcher.consume_token(token).is_ok()
    }

    /// Whether the grammar is complete and cannot go on: the sequence is done.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }

    /// What went wrong, if the grammar broke.
    pub fn error(&self) -> Option<String> {
        self.matcher.get_error()
    }
}

/// Whitespace allowed between two JSON tokens: at most this many characters, as llama.cpp's JSON
/// grammars allow (its `space` rule: up to two newlines and twenty blanks). Unbounded, a greedy
/// model can fall into spaces and newlines until `max_tokens` ends an unfinished document.
const JSON_WHITESPACE: &str = r"[\x20\x0A\x0D\x09]{1,22}";

/// `schema` with llguidance's whitespace bounded to [`JSON_WHITESPACE`], unless the schema sets
/// its own (`x-guidance`).
fn bounded_whitespace(mut schema: serde_json::Value) -> serde_json::Value {
    if let Some(object) = schema.as_object_mut() {
        object
            .entry("x-guidance")
            .or_insert_with(|| serde_json::json!({ "whitespace_pattern": JSON_WHITESPACE }));
    }
    schema
}

/// Our vocabulary as llguidance sees it: each token's bytes, special tokens as the marker byte
/// 0xFF followed by their name (so that grammar text never matches them).
struct VocabularyEnv {
    trie: TokTrie,
}

impl VocabularyEnv {
    fn new(tokenizer: &Tokenizer) -> Result<Self, ConstraintError> {
        let vocab = tokenizer.vocab_size();
        let end_of_generation: Vec<TokenId> = (0..vocab as u32)
            .filter(|&id| tokenizer.is_end_of_generation(id))
            .collect();
        let Some(&eos) = end_of_generation.first() else {
            return Err(ConstraintError::NoEndOfGeneration);
        };
        let words = (0..vocab as u32)
            .map(|id| token_bytes(tokenizer, id, end_of_generation.contains(&id)))
            .collect::<Result<Vec<_>, _>>()?;
        let info = TokRxInfo::new(vocab as u32, eos);
        let trie = TokTrie::from(&info, &words).with_eos_tokens(&end_of_generation);
        Ok(VocabularyEnv { trie })
    }
}

/// The bytes token `id` stands for in the trie: its text, or for a special token the marker
/// byte and its name.
fn token_bytes(tokenizer: &Tokenizer, id: u32, ends: bool) -> Result<Vec<u8>, ConstraintError> {
    let special_name: Option<String> = match tokenizer {
        Tokenizer::Gguf(t) => match t.token_type(id) {
            Some(TokenType::Control | TokenType::Unknown) => {
                Some(t.token_text(id).unwrap_or_default().to_owned())
            }
            _ => None,
        },
        Tokenizer::Bpe(t) => t
            .special_tokens()
            .iter()
            .find(|&&(_, special)| special == id)
            .map(|(name, _)| name.clone()),
        Tokenizer::Char(_) => None,
    };
    let bytes = tokenizer
        .decode_bytes(&[id])
        .map_err(|e| ConstraintError::Vocabulary(e.to_string()))?;
    let name = match special_name {
        Some(name) if !name.is_empty() => name.into_bytes(),
        Some(_) => format!("<|special_{id}|>").into_bytes(),
        // An end-of-generation token that is ordinary text elsewhere: still only an ending.
        None if ends => {
            if bytes.is_empty() {
                format!("<|end_{id}|>").into_bytes()
            } else {
                bytes
            }
        }
        None => return Ok(bytes),
    };
    let mut marked = Vec::with_capacity(name.len() + 1);
    marked.push(TokTrie::SPECIAL_TOKEN_MARKER);
    marked.extend_from_slice(&name);
    Ok(marked)
}

impl TokenizerEnv for VocabularyEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.trie.greedy_tokenize(s)
    }

    // Greedy tokenization is not the tokenizer's own, so llguidance must not force tokens
    // from it.
    fn tokenize_is_canonical(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use claude_tokenizer::CharTokenizer;

    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn compiled_constraints_and_matchers_cross_threads() {
        assert_send::<CompiledConstraint>();
        assert_send::<ConstraintMatcher>();
    }

    #[test]
    fn a_tokenizer_without_an_end_of_generation_token_is_refused() {
        let tokenizer = Tokenizer::Char(CharTokenizer::new("ab".chars()));
        assert_eq!(
            ConstraintCompiler::new(&tokenizer).unwrap_err(),
            ConstraintError::NoEndOfGeneration
        );
    }
}
