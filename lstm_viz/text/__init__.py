"""Text as LSTM input: tokenizers, vocabularies and the "tokens" input source."""
