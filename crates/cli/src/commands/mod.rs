//! One module per subcommand.

pub mod prepare;
pub mod tokenizer;
