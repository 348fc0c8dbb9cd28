//! Reading a data file (or lines in memory) into examples: one example a non-blank line, cut or
//! skipped when longer than the context, with counts of what was read.

use std::path::{Path, PathBuf};

use claude_inference::ChatTemplate;
use claude_tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};

use super::Example;
use super::conversation::{conversation_example, text_example};
use super::error::{DataError, Fault};
use super::record::{Record, parse};

/// What to do with an example longer than the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlong {
    /// Keep its first `context` tokens (skipped if none of them counts).
    #[default]
    Truncate,
    /// Leave it out.
    Skip,
}

/// How examples are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// The most tokens an example keeps: the length of the longest row (the trainer's inputs
    /// are one token shorter, its targets one token later).
    pub context: usize,
    /// What to do with an example of more than `context` tokens.
    pub overlong: Overlong,
}

impl ReadOptions {
    /// At most `context` tokens an example, longer ones truncated.
    pub fn new(context: usize) -> Self {
        ReadOptions {
            context,
            overlong: Overlong::Truncate,
        }
    }

    /// The same options with `overlong` as the overlong policy.
    pub fn with_overlong(mut self, overlong: Overlong) -> Self {
        self.overlong = overlong;
        self
    }
}

/// What reading a data file found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataStats {
    /// Examples read (non-blank lines).
    pub read: usize,
    /// Of those, conversations (`messages` lines).
    pub conversations: usize,
    /// Of those, plain texts (`text` lines).
    pub texts: usize,
    /// Examples kept.
    pub examples: usize,
    /// Kept examples that were cut to the context.
    pub truncated: usize,
    /// Examples left out for being longer than the context ([`Overlong::Skip`]).
    pub skipped_overlong: usize,
    /// Examples left out because no token of theirs (after truncation) counts.
    pub skipped_no_targets: usize,
    /// Tokens in the kept examples.
    pub tokens: usize,
    /// Tokens the loss counts in the kept examples (the assistant's, for conversations).
    pub target_tokens: usize,
    /// The longest kept example's tokens.
    pub longest: usize,
}

/// The examples of a data file and what reading it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleSet {
    /// The kept examples, in file order.
    pub examples: Vec<Example>,
    /// The counts.
    pub stats: DataStats,
}

/// Reads the JSON-lines data file `path`: conversations rendered with `template`, everything
/// tokenized with `tokenizer` (see the [module docs](super)). An error names the file and the
/// line at fault; a file with no example left to train on is [`DataError::Empty`].
pub fn read_examples(
    path: &Path,
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    options: ReadOptions,
) -> Result<ExampleSet, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let mut reader = Reader::new(path, template, tokenizer, options);
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let text = std::str::from_utf8(line).map_err(|e| DataError::Format {
            file: path.to_path_buf(),
            line: index + 1,
            problem: format!("the line is not UTF-8 ({e})"),
        })?;
        reader.line(index + 1, text)?;
    }
    reader.finish()
}

impl ExampleSet {
    /// The examples of `lines` (one JSON document a line, blank ones skipped), as
    /// [`read_examples`] reads a file; errors name the file `name` and the 1-based line.
    pub fn from_lines<S: AsRef<str>>(
        name: impl Into<PathBuf>,
        lines: impl IntoIterator<Item = S>,
        template: &ChatTemplate,
        tokenizer: &Tokenizer,
        options: ReadOptions,
    ) -> Result<ExampleSet, DataError> {
        let name = name.into();
        let mut reader = Reader::new(&name, template, tokenizer, options);
        for (index, line) in lines.into_iter().enumerate() {
            reader.line(index + 1, line.as_ref())?;
        }
        reader.finish()
    }

    /// The examples of parsed JSON `values` (value `i` counts as line `i + 1` of `name`).
    pub fn from_values(
        name: impl Into<PathBuf>,
        values: impl IntoIterator<Item = serde_json::Value>,
        template: &ChatTemplate,
        tokenizer: &Tokenizer,
        options: ReadOptions,
    ) -> Result<ExampleSet, DataError> {
        let name = name.into();
        let mut reader = Reader::new(&name, template, tokenizer, options);
        for (index, value) in values.into_iter().enumerate() {
            reader.value(index + 1, &value)?;
        }
        reader.finish()
    }
}

/// Examples being read, line by line.
struct Reader<'a> {
    file: &'a Path,
    template: &'a ChatTemplate,
    tokenizer: &'a Tokenizer,
    options: ReadOptions,
    set: ExampleSet,
}

impl<'a> Reader<'a> {
    /// Nothing read yet.
    fn new(
        file: &'a Path,
        template: &'a ChatTemplate,
        tokenizer: &'a Tokenizer,
        options: ReadOptions,
    ) -> Self {
        Reader {
            file,
            template,
            tokenizer,
            options,
            set: ExampleSet {
                examples: Vec::new(),
                stats: DataStats::default(),
            },
        }
    }

    /// Line `line` (1-based): skipped if blank, else one example.
    fn line(&mut self, line: usize, text: &str) -> Result<(), DataError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| DataError::Json {
            file: self.file.to_path_buf(),
            line,
            message: e.to_string(),
        })?;
        self.value(line, &value)
    }

    /// The example of line `line`, parsed as `value`.
    fn value(&mut self, line: usize, value: &serde_json::Value) -> Result<(), DataError> {
        let at = |fault: Fault| fault.at(self.file, line);
        let record = parse(value).map_err(|problem| at(Fault::Format(problem)))?;
        let stats = &mut self.set.stats;
        stats.read += 1;
        let example = match &record {
            Record::Chat {
                messages,
                trained,
                tools,
            } => {
                stats.conversations += 1;
                conversation_example(self.template, self.tokenizer, messages, trained, tools)
            }
            Record::Text(text) => {
                stats.texts += 1;
                text_example(self.tokenizer, text)
            }
        }
        .map_err(at)?;
        self.keep(example);
        Ok(())
    }

    /// Keeps `example` (truncated if need be), or counts why not.
    fn keep(&mut self, example: Example) {
        let stats = &mut self.set.stats;
        let mut example = example;
        if example.len() > self.options.context {
            match self.options.overlong {
                Overlong::Skip => {
                    stats.skipped_overlong += 1;
                    return;
                }
                Overlong::Truncate => example = example.truncated(self.options.context),
            }
            if example.target_count() > 0 {
                stats.truncated += 1;
            }
        }
        let targets = example.target_count();
        if targets == 0 {
            stats.skipped_no_targets += 1;
            return;
        }
        stats.examples += 1;
        stats.tokens += example.len();
        stats.target_tokens += targets;
        stats.longest = stats.longest.max(example.len());
        self.set.examples.push(example);
    }

    /// The examples, or [`DataError::Empty`] when none is kept.
    fn finish(self) -> Result<ExampleSet, DataError> {
        if !self.set.examples.is_empty() {
            return Ok(self.set);
        }
        let stats = &self.set.stats;
        let detail = if stats.read == 0 {
            "no lines".to_string()
        } else {
            format!(
                "{} read: {} longer than the context of {} tokens, {} with no token to train on",
                stats.read, stats.skipped_overlong, self.options.context, stats.skipped_no_targets
            )
        };
        Err(DataError::Empty {
            file: self.file.to_path_buf(),
            detail,
        })
    }
}
