//! Why fine-tuning data could not be read: every error names the file, and the line where one is
//! at fault.

use std::path::PathBuf;

use claude_inference::ChatTemplateError;

/// Why a data file (or in-memory lines) could not become examples.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}", file = .file.display())]
    Io {
        /// The data file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line that is not valid JSON (or not UTF-8).
    #[error("{file}:{line}: invalid JSON: {message}", file = .file.display())]
    Json {
        /// The data file.
        file: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// A line that is JSON but not an example: no `messages` array and no `text`, an unknown
    /// role, a message with neither content nor tool calls, no assistant message...
    #[error("{file}:{line}: {problem}", file = .file.display())]
    Format {
        /// The data file.
        file: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The chat template failed to render the line's conversation.
    #[error("{file}:{line}: the chat template cannot render this conversation: {source}", file = .file.display())]
    Template {
        /// The data file.
        file: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The template's error.
        source: ChatTemplateError,
    },
    /// The chat template renders the conversation through an assistant message as something
    /// that does not start with its rendering of the conversation before it (a template that
    /// rewrites earlier turns, as some drop the reasoning of past turns): the assistant's span
    /// cannot be told.
    #[error(
        "{file}:{line}: message {message}: the chat template renders the conversation through \
         this message as text that does not start with its rendering of the messages before it \
         ({what}), so the assistant's tokens cannot be told apart",
        file = .file.display()
    )]
    NotPrefix {
        /// The data file.
        file: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The 0-based index of the message in `messages`.
        message: usize,
        /// Which two renderings disagree.
        what: &'static str,
    },
    /// The tokenizer could not encode the rendered text.
    #[error("{file}:{line}: cannot tokenize: {source}", file = .file.display())]
    Tokenize {
        /// The data file.
        file: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The tokenizer's error.
        source: claude_tokenizer::Error,
    },
    /// The file holds no example to train on (it is empty, or every example was skipped).
    #[error("{file}: no examples to train on ({detail})", file = .file.display())]
    Empty {
        /// The data file.
        file: PathBuf,
        /// Why: no lines, or how many were skipped and why.
        detail: String,
    },
}

/// What went wrong with one line, before the file and line are known to name them.
#[derive(Debug)]
pub(crate) enum Fault {
    /// Not an example: what is wrong.
    Format(String),
    /// The chat template failed.
    Template(ChatTemplateError),
    /// Two renderings of the conversation disagree at message `message`.
    NotPrefix {
        /// The 0-based message index.
        message: usize,
        /// Which two renderings.
        what: &'static str,
    },
    /// The tokenizer failed.
    Tokenize(claude_tokenizer::Error),
}

impl Fault {
    /// The fault as the error of line `line` (1-based) of `file`.
    pub(crate) fn at(self, file: &std::path::Path, line: usize) -> DataError {
        let file = file.to_path_buf();
        match self {
            Fault::Format(problem) => DataError::Format {
                file,
                line,
                problem,
            },
            Fault::Template(source) => DataError::Template { file, line, source },
            Fault::NotPrefix { message, what } => DataError::NotPrefix {
                file,
                line,
                message,
                what,
            },
            Fault::Tokenize(source) => DataError::Tokenize { file, line, source },
        }
    }
}

impl From<ChatTemplateError> for Fault {
    fn from(error: ChatTemplateError) -> Self {
        Fault::Template(error)
    }
}

impl From<claude_tokenizer::Error> for Fault {
    fn from(error: claude_tokenizer::Error) -> Self {
        Fault::Tokenize(error)
    }
}
