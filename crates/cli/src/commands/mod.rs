//! One module per subcommand.

pub mod generate;
pub mod prepare;
pub mod serve;
pub mod tokenizer;
pub mod train;
