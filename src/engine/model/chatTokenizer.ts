/**
 * The tokenizer as the engine uses it: chat templating, encoding a templated prompt without adding
 * special tokens twice (the template already contains them), and decoding. Wraps a transformers.js
 * tokenizer so the rest of the engine does not depend on its API.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers' with { 'resolution-mode': 'import' };
import { KvsteerError } from '../util/errors';
import { SPM_SPACE } from '../gguf/tokenizerFromGguf';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Where a template was looked for, for the error when there is none. */
export interface ChatTemplateSource {
  /** Chat template from a file beside the tokenizer (chat_template.jinja), used when the tokenizer has none. */
  template?: string;
  model?: string;
  /** The files searched, e.g. ["tokenizer_config.json", "chat_template.jinja"]. */
  lookedIn?: readonly string[];
}

export class ChatTokenizer {
  constructor(
    private readonly tok: PreTrainedTokenizer,
    private readonly templateSource: ChatTemplateSource = {},
  ) {}

  /** Whether the tokenizer itself carries a chat template (tokenizer_config.json's chat_template). */
  static tokenizerHasTemplate(tok: PreTrainedTokenizer): boolean {
    try {
      tok.get_chat_template();
      return true;
    } catch {
      return false;
    }
  }

  get hasChatTemplate(): boolean {
    return ChatTokenizer.tokenizerHasTemplate(this.tok) || this.templateSource.template !== undefined;
  }

  /**
   * Renders a conversation with the model's chat template. A model whose tokenizer adds a BOS token
   * gets exactly one at the start, whether or not its template writes it (TinyLlama's does not,
   * Llama 3's does), as llama.cpp's chat path gives it. Templates with a thinking switch (Qwen3's
   * `enable_thinking`) render with thinking off: kvsteer compares answers, and a model that writes
   * its own reasoning block first leaves nothing for the steering to change.
   */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true): string {
    const own = ChatTokenizer.tokenizerHasTemplate(this.tok);
    if (!own && this.templateSource.template === undefined) {
      const { model, lookedIn } = this.templateSource;
      const where = lookedIn?.length ? ` (looked in ${lookedIn.join(' and ')})` : '';
      throw new KvsteerError('MODEL_LOAD_FAILED', `${model ?? 'this model'} has no chat template${where}; kvsteer needs an instruction-tuned (chat) model`);
    }
    // Keys beyond transformers.js's own options reach the template as variables.
    const options = {
      tokenize: false as const,
      add_generation_prompt: addGenerationPrompt,
      enable_thinking: false,
      ...(own ? {} : { chat_template: this.templateSource.template }),
    };
    const text = this.tok.apply_chat_template(messages, options) as string;
    const bos = this.addedBos();
    return bos && !text.startsWith(bos) ? bos + text : text;
  }

  private bos: { text?: string } | undefined;
  /** The BOS token's text when encoding with special tokens adds it in front, else undefined. */
  private addedBos(): string | undefined {
    if (!this.bos) {
      const plain = this.encode('a');
      const special = this.tok.encode('a', { add_special_tokens: true });
      const added = special.length === plain.length + 1 && special.slice(1).join() === plain.join();
      this.bos = { text: added ? this.tok.decode([special[0]], { skip_special_tokens: false }) : undefined };
    }
    return this.bos.text;
  }

  /** Token ids of `text`, special-token strings parsed, nothing added (as the paper's evaluation). */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false });
  }

  /**
   * The one token that spells `text` on its own (the steering offset token), or undefined. A plain
   * encode gives it for byte-level BPE vocabularies. SentencePiece ones prefix every stretch of
   * text with "▁" (so " " would encode as "▁▁" and "\n" as "▁" + <0x0A>); there it is the piece
   * itself, spaces written "▁", or for a single byte such as "\n" its byte token.
   */
  singleToken(text: string): number | undefined {
    if (!this.prefixesSpace()) {
      const ids = this.encode(text);
      return ids.length === 1 ? ids[0] : undefined;
    }
    const vocab = this.tok.get_vocab();
    const piece = vocab.get(text.replace(/ /g, SPM_SPACE));
    if (piece !== undefined) return piece;
    const bytes = Buffer.from(text, 'utf8');
    return bytes.length === 1 ? vocab.get(`<0x${bytes[0].toString(16).toUpperCase().padStart(2, '0')}>`) : undefined;
  }

  private spacePrefix: boolean | undefined;
  /** Whether encoding puts a "▁" before text that has no leading space (SentencePiece style). */
  private prefixesSpace(): boolean {
    if (this.spacePrefix === undefined) {
      const first = this.encode('a')[0];
      let piece: string | undefined;
      for (const [p, id] of this.tok.get_vocab()) if (id === first) piece = p;
      this.spacePrefix = piece?.startsWith(SPM_SPACE) ?? false;
    }
    return this.spacePrefix;
  }

  decode(ids: number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.tok.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }
}
