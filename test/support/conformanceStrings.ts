/**
 * Inputs of the llama.cpp conformance tests: strings that exercise a tokenizer (digits,
 * punctuation, whitespace, non-ASCII, chat special tokens, code) and short chat prompts.
 */

export const TOKENIZER_STRINGS = [
  'Hello, world!', 'hello world', '  leading spaces', 'trailing spaces   ', 'tabs\tand\nnewlines\n\n',
  '1234567890', '3.14159', '-42', '1,000,000', '$19.99', '2026-11-29', '12:34:56', '0x1F', '1e-10', '100%',
  "It's a dog's life; isn't it?", 'quotes "double" and \'single\'', '(parentheses) [brackets] {braces}', 'a+b=c; x*y/z', 'email@example.com',
  'https://example.com/path?q=1&r=2', '#hashtag @mention', '...ellipsis…', '— em dash – en dash', 'snake_case_name camelCaseName',
  'naïve café résumé', 'Ünïcödé', 'Straße', 'ñandú', 'Ελληνικά', 'Русский текст', 'العربية', 'עברית', '中文字符', '日本語のテキスト',
  '한국어', 'emoji 😀🎉👍', '🇫🇷 flag', 'mixed 中文 and English 123', 'ﬁ ligature', '\u00a0non-breaking space', 'zero\u200bwidth',
  '<|im_start|>user\nHi<|im_end|>\n', '<|im_start|>assistant\n', '<|endoftext|>', 'text<|im_end|>more', '<|im_start|>system\nYou are helpful.<|im_end|>',
  'def f(x):\n    return x ** 2\n', 'for (let i = 0; i < 10; i++) {}', '<div class="a">x</div>', 'SELECT * FROM t WHERE id = 1;',
  'ALL CAPS SENTENCE', 'The quick brown fox jumps over the lazy dog.', '   ', '\n', 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
];

export const CHAT_PROMPTS = [
  'What is the capital of France?', 'Write a haiku about the sea.', 'Explain why the sky is blue in two sentences.', 'List three uses of a paperclip.',
  'If I have 3 apples and eat one, how many are left?', 'Give me a tip for learning to code.', 'What is photosynthesis?', 'How do I boil an egg?',
  'Name a famous painter.', 'What does a compiler do?', 'Translate "good morning" into Spanish.', 'Why do cats purr?', 'What is 12 times 12?',
  'Suggest a name for a pet goldfish.', 'What causes rain?', 'Describe a rainbow.', 'What is the largest planet in the solar system?',
  'How many legs does a spider have?', 'Write one sentence about autumn.', 'What is gravity?',
];
