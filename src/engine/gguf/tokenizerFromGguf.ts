/**
 * Builds a Hugging Face `tokenizer.json` and `tokenizer_config.json` from a GGUF file's
 * vocabulary, merges, token types, pre-tokenizer name and chat template, so transformers.js can
 * tokenize exactly as llama.cpp does. Two vocabulary kinds:
 * - byte-level BPE (`tokenizer.ggml.model = gpt2`: SmolLM2, Llama 3, Qwen2): the pre-tokenizer is
 *   chosen from `tokenizer.ggml.pre` the way llama.cpp chooses its regexes;
 * - SentencePiece (`llama`: Llama 2, TinyLlama, Mistral): llama.cpp merges adjacent pieces by the
 *   score of the merged piece, highest first, and spells unknown characters as byte tokens. That
 *   is BPE with byte fallback whose merges are every split of every piece, ranked by the piece's
 *   score; spaces become "▁" and each stretch of text between special tokens gets a leading one.
 */
import { KvsteerError } from '../util/errors';
import { Steps, inSlices, runSteps } from '../util/steps';
import { GgufFile, GgufValue, hasNumberArray, metaArray, metaString, stringArrayLength, wrongType } from './ggufFile';

/** llama.cpp token types. */
const TOKEN_TYPE_UNKNOWN = 2;
const TOKEN_TYPE_CONTROL = 3;
const TOKEN_TYPE_USER_DEFINED = 4;

/**
 * The pre-tokenizer names for which llama.cpp looks a whole pre-tokenized word up in the vocabulary
 * before merging (`ignore_merges`), and adds BOS unless the file says otherwise (llama-vocab.cpp).
 */
const LLAMA3_STYLE_PRE = new Set(['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'pixtral']);

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;

/** SentencePiece's space. */
export const SPM_SPACE = '\u2581';
const TOKEN_TYPE_NORMAL = 1;

/**
 * BPE merges equivalent to llama.cpp's SentencePiece tokenizer: for every normal piece, each way
 * of splitting it into two pieces that are themselves in the vocabulary, ranked by the score of the
 * whole piece (highest first; then by vocabulary order, as Hugging Face's converter does).
 */
export function spmMerges(tokens: string[], types: number[], scores: number[]): [string, string][] {
  const id = new Map<string, number>();
  tokens.forEach((t, i) => {
    if ((types[i] ?? TOKEN_TYPE_NORMAL) === TOKEN_TYPE_NORMAL && !id.has(t)) id.set(t, i);
  });
  const found: { piece: number; left: number; right: number; l: string; r: string }[] = [];
  for (const [piece, pid] of id) {
    const chars = [...piece];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join(''), r = chars.slice(k).join('');
      const left = id.get(l), right = id.get(r);
      if (left !== undefined && right !== undefined) found.push({ piece: pid, left, right, l, r });
    }
  }
  found.sort((a, b) => scores[b.piece] - scores[a.piece] || a.piece - b.piece || a.left - b.left || a.right - b.right);
  // Pairs, not "left right" strings: pieces may contain spaces.
  return found.map((m) => [m.l, m.r]);
}

/**
 * llama.cpp's regexes for files without a known pre-tokenizer name ("default", or no name at all):
 * applied one after the other, each splitting the pieces the previous one made.
 */
const DEFAULT_REGEXES = [
  "[\\p{P}\\$\\+<=>\\^~\\|]+",
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
  "\\p{N}+",
  "[0-9][0-9][0-9]",
];

/**
 * The pre-tokenizer names kvsteer reads, grouped as llama.cpp groups them (each name is checked
 * against llama.cpp's own tokenizer in test/engine/model/llamaCppTinyModels.test.ts).
 */
export const PRE_TOKENIZER_FAMILIES = {
  default: ['default'],
  gpt2: ['gpt-2'],
  digits: ['smollm', 'starcoder', 'refact', 'codeshell'],
  llama3: ['llama3', 'llama-v3', 'llama-bpe', 'smaug-bpe', 'falcon3', 'pixtral'],
  qwen2: ['qwen2', 'deepseek-r1-qwen', 'megrez'],
} as const;

/** Hugging Face pre-tokenizer equivalent to llama.cpp's pre-tokenizer `pre`. */
function preTokenizerFor(pre: string, file: string): Json {
  const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
  const family = (Object.keys(PRE_TOKENIZER_FAMILIES) as (keyof typeof PRE_TOKENIZER_FAMILIES)[]).find((f) =>
    (PRE_TOKENIZER_FAMILIES[f] as readonly string[]).includes(pre),
  );
  switch (family) {
    case 'default':
      return { type: 'Sequence', pretokenizers: [...DEFAULT_REGEXES.map(split), byteLevel(false)] };
    case 'gpt2':
      return byteLevel(true);
    // llama.cpp: every digit split apart, then the GPT-2 regex.
    case 'digits':
      return { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] };
    case 'llama3':
      return { type: 'Sequence', pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] };
    case 'qwen2':
      return { type: 'Sequence', pretokenizers: [split(QWEN2_REGEX), byteLevel(false)] };
    default:
      throw new KvsteerError('GGUF_UNSUPPORTED', `${file}: pre-tokenizer "${pre}" is not supported`);
  }
}

export interface GgufTokenizer {
  tokenizerJson: Json;
  tokenizerConfig: Json;
  bosTokenId?: number;
  eosTokenIds: number[];
  padTokenId?: number;
  /** What was wrong but worked around (a special-token id outside the vocabulary), each naming the file and key. */
  warnings: string[];
}

/**
 * Token texts llama.cpp ends generation on whatever the metadata names (llama-vocab.cpp keeps this
 * list because converters often record only one end token: Gemma files name <eos> but chats end
 * with <end_of_turn>; SmolLM2's name <|im_end|> and not <|endoftext|>).
 */
const END_OF_GENERATION_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>', '</s>',
  '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>',
  '<｜end▁of▁sentence｜>', '[e~[',
]);

/**
 * llama.cpp's ids for the special tokens a SentencePiece file does not name, or names outside its
 * vocabulary: the Llama layout's <unk>, <s> and </s>. (Its byte-level BPE default, 11 for both BOS
 * and EOS, is GPT-2's "," and not taken: it would end answers on an arbitrary token.)
 */
const SPM_DEFAULT_IDS: Record<string, number> = {
  'tokenizer.ggml.unknown_token_id': 0,
  'tokenizer.ggml.bos_token_id': 1,
  'tokenizer.ggml.eos_token_id': 2,
};

const isString = (x: GgufValue): x is string => typeof x === 'string';

/** Vocabulary entries or merges handled between two yields of a long pass. */
const PASS_SLICE = 8192;

/**
 * llama.cpp refuses (asserts on) a vocabulary that lists a text twice: the text could encode to
 * only one of the ids, and here the other would decode to nothing. A text holding U+FFFD is
 * let through: the reader decodes every invalid UTF-8 sequence to U+FFFD, so two different byte
 * strings, which llama.cpp tells apart, can read the same here.
 */
function* refuseRepeatedTokens(file: string, tokens: string[]): Steps<void> {
  const first = new Map<string, number>();
  yield* inSlices(tokens.length, PASS_SLICE, (start, end) => {
    for (let i = start; i < end; i++) {
      const t = tokens[i];
      const seen = first.get(t);
      if (seen === undefined) first.set(t, i);
      else if (!t.includes('\uFFFD')) {
        throw new KvsteerError('GGUF_CORRUPT', `${file}: token ${i} (${JSON.stringify(t)}) repeats token ${seen}; each text may appear once in the vocabulary (llama.cpp refuses such a file too)`);
      }
    }
  });
}
const isNumber = (x: GgufValue): x is number => typeof x === 'number';

/**
 * What tokenizerFromGguf refuses that the header tells without reading the vocabulary's texts
 * (they may be only counted: openGguf's stringArrays: 'count'): the tokenizer model, the
 * vocabulary, token types, scores and merges present and of the vocabulary's length, and the
 * pre-tokenizer. Left to tokenizerFromGguf: a text repeated in the vocabulary, a bad merge.
 */
export function checkTokenizerHeader(f: GgufFile): void {
  const model = metaString(f, 'tokenizer.ggml.model');
  if (model !== 'gpt2' && model !== 'llama') {
    throw new KvsteerError('GGUF_UNSUPPORTED', `${f.path}: tokenizer model "${model}" is not supported (only byte-level BPE "gpt2" and SentencePiece "llama")`);
  }
  const count = stringArrayLength(f, 'tokenizer.ggml.tokens');
  if (count === undefined) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: the vocabulary is missing`);
  // One type and score per token, as llama.cpp reads them (it indexes both by token id).
  hasNumberArray(f, 'tokenizer.ggml.token_type', count);
  if (model === 'llama') {
    if (!hasNumberArray(f, 'tokenizer.ggml.scores', count)) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: the SentencePiece scores are missing or do not match the vocabulary`);
  } else {
    if (stringArrayLength(f, 'tokenizer.ggml.merges') === undefined) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: the vocabulary or merges are missing`);
    preTokenizerFor(metaString(f, 'tokenizer.ggml.pre', 'default'), f.path);
  }
}

export function tokenizerFromGguf(f: GgufFile): GgufTokenizer {
  return runSteps(tokenizerSteps(f));
}

/** tokenizerFromGguf as steps (util/steps): it yields between its passes over the vocabulary, and within the longest. */
export function* tokenizerSteps(f: GgufFile): Steps<GgufTokenizer> {
  if (f.stringArrayLengths) throw new Error(`${f.path}: its vocabulary was only counted; tokenizerFromGguf needs it read (openGguf without stringArrays: 'count')`);
  checkTokenizerHeader(f);
  yield;
  const spm = metaString(f, 'tokenizer.ggml.model') === 'llama';
  const texts = metaArray(f, 'tokenizer.ggml.tokens', isString)!;
  yield;
  // llama.cpp names empty tokens so that they stay distinct (and decode to that name).
  const tokens = texts.map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
  yield;
  yield* refuseRepeatedTokens(f.path, tokens);
  yield;
  const types = metaArray(f, 'tokenizer.ggml.token_type', isNumber, tokens.length) ?? [];
  let merges: string[] | [string, string][];
  if (spm) {
    const scores = metaArray(f, 'tokenizer.ggml.scores', isNumber, tokens.length)!;
    merges = spmMerges(tokens, types, scores);
  } else {
    const m = metaArray(f, 'tokenizer.ggml.merges', isString)!;
    // A merge must join two tokens into a third (Hugging Face's tokenizers refuse others too): text
    // merged into a piece outside the vocabulary was dropped from the prompt without a trace.
    const known = new Set(tokens);
    yield* inSlices(m.length, PASS_SLICE, (start, end) => {
      for (let i = start; i < end; i++) {
        const parts = m[i].split(' ');
        if (parts.length !== 2 || !parts.every((x) => known.has(x)) || !known.has(parts[0] + parts[1])) {
          throw new KvsteerError('GGUF_CORRUPT', `${f.path}: tokenizer.ggml.merges entry ${i} (${JSON.stringify(m[i])}) does not join two vocabulary tokens into a third`);
        }
      }
    });
    merges = m;
  }
  yield;
  const pre = metaString(f, 'tokenizer.ggml.pre', 'default');
  const warnings: string[] = [];
  const outside: { key: string; value: number | bigint; used?: number }[] = [];
  // llama.cpp runs a file whose special-token id is absent or lies outside the vocabulary: it uses
  // its default for the tokenizer model when that is inside the vocabulary, else no such token.
  // So do we, and say so when the file named an id. An id stored as u64 (a bigint here) is read:
  // llama.cpp wants u32 and refuses the file, but the value is unambiguous.
  const defaults = spm ? SPM_DEFAULT_IDS : {};
  const id = (key: string): number | undefined => {
    const fallback = defaults[key] !== undefined && defaults[key] < tokens.length ? defaults[key] : undefined;
    const v = f.metadata.get(key);
    if (v === undefined) return fallback;
    // llama.cpp refuses the file ("key … has wrong type"): an id that is text or a flag names no token.
    if (typeof v !== 'number' && typeof v !== 'bigint') throw wrongType(f, key, 'u32');
    if (v >= 0 && v < tokens.length && (typeof v === 'bigint' || Number.isInteger(v))) return Number(v);
    outside.push({ key, value: v, used: fallback });
    return fallback;
  };
  const bos = id('tokenizer.ggml.bos_token_id');
  const eos = id('tokenizer.ggml.eos_token_id');
  const unk = id('tokenizer.ggml.unknown_token_id');
  const pad = id('tokenizer.ggml.padding_token_id');
  const eosIds = [eos, id('tokenizer.ggml.eot_token_id'), id('tokenizer.ggml.eom_token_id')].filter((x): x is number => x !== undefined);
  tokens.forEach((t, i) => END_OF_GENERATION_TEXTS.has(t) && eosIds.push(i));
  for (const { key, value, used } of outside) {
    const instead = used === undefined ? 'ignored' : `using llama.cpp's default, id ${used} (${JSON.stringify(tokens[used])})`;
    // Without an end token a generation runs to its token limit: the one consequence worth spelling out.
    const ends = [...new Set(eosIds)].map((i) => JSON.stringify(tokens[i]));
    const effect = key !== 'tokenizer.ggml.eos_token_id' ? '' : ends.length ? `; generation ends on ${ends.join(', ')}` : '; no other token ends generation, so answers run to the token limit';
    warnings.push(`${f.path}: ${key} is ${value}, outside the vocabulary of ${tokens.length} tokens; ${instead}${effect}`);
  }
  // Absent, llama.cpp's default: BOS for SentencePiece vocabularies and the Llama 3 family.
  const addBosKey = f.metadata.get('tokenizer.ggml.add_bos_token');
  const addBos = typeof addBosKey === 'boolean' ? addBosKey : spm || LLAMA3_STYLE_PRE.has(pre);
  // llama.cpp's default for SentencePiece vocabularies is to add the space prefix.
  const addSpacePrefix = spm && f.metadata.get('tokenizer.ggml.add_space_prefix') !== false;

  const vocab: Record<string, number> = {};
  yield* inSlices(tokens.length, PASS_SLICE, (start, end) => {
    // Own keys only: a token spelled "constructor" or "toString" is `in` any object. A text seen
    // before is one refuseRepeatedTokens let through (different bytes that read the same).
    for (let i = start; i < end; i++) if (!Object.hasOwn(vocab, tokens[i])) vocab[tokens[i]] = i;
  });
  yield;
  const addedTokens = tokens
    .map((content, i) => ({ content, i, type: types[i] }))
    // llama.cpp matches control, user-defined and unknown tokens (e.g. "<unk>") in text as themselves.
    .filter((t) => t.type === TOKEN_TYPE_CONTROL || t.type === TOKEN_TYPE_USER_DEFINED || t.type === TOKEN_TYPE_UNKNOWN)
    .map((t) => ({
      id: t.i,
      content: t.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: t.type !== TOKEN_TYPE_USER_DEFINED,
    }));

  const postProcessor = addBos && bos !== undefined
    ? {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: tokens[bos], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: tokens[bos], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { [tokens[bos]]: { id: tokens[bos], ids: [bos], tokens: [tokens[bos]] } },
      }
    : null;

  const tokenizerJson: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    ...(spm
      ? {
          normalizer: {
            type: 'Sequence',
            normalizers: [
              ...(addSpacePrefix ? [{ type: 'Prepend', prepend: SPM_SPACE }] : []),
              { type: 'Replace', pattern: { String: ' ' }, content: SPM_SPACE },
            ],
          },
          pre_tokenizer: null,
          decoder: {
            type: 'Sequence',
            decoders: [
              { type: 'Replace', pattern: { String: SPM_SPACE }, content: ' ' },
              { type: 'ByteFallback' },
              { type: 'Fuse' },
              ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
            ],
          },
        }
      : {
          normalizer: null,
          pre_tokenizer: preTokenizerFor(pre, f.path),
          decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
        }),
    post_processor: postProcessor,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: spm && unk !== undefined ? tokens[unk] : null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: spm,
      byte_fallback: spm,
      ignore_merges: !spm && LLAMA3_STYLE_PRE.has(pre),
      vocab,
      merges,
    },
  };
  const tok = (i: number | undefined) => (i === undefined ? null : tokens[i]);
  const chatTemplate = f.metadata.get('tokenizer.chat_template');
  const tokenizerConfig: Json = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_bos_token: addBos,
    add_eos_token: false,
    bos_token: tok(bos),
    eos_token: tok(eos),
    unk_token: tok(unk),
    pad_token: tok(pad),
    clean_up_tokenization_spaces: false,
    model_max_length: 1e30,
    ...(typeof chatTemplate === 'string' ? { chat_template: chatTemplate } : {}),
  };
  return { tokenizerJson, tokenizerConfig, bosTokenId: bos, eosTokenIds: [...new Set(eosIds)], padTokenId: pad, warnings };
}
