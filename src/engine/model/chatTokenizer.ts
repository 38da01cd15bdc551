/**
 * The tokenizer as the engine uses it: chat templating, encoding a templated prompt without adding
 * special tokens twice (the template already contains them), and decoding. Wraps a transformers.js
 * tokenizer so the rest of the engine does not depend on its API.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers' with { 'resolution-mode': 'import' };
import { KvsteerError } from '../util/errors';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export class ChatTokenizer {
  constructor(private readonly tok: PreTrainedTokenizer) {}

  get hasChatTemplate(): boolean {
    try {
      this.tok.get_chat_template();
      return true;
    } catch {
      return false;
    }
  }

  /** Renders a conversation with the model's chat template. */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true): string {
    if (!this.hasChatTemplate) {
      throw new KvsteerError('MODEL_LOAD_FAILED', 'this model has no chat template; kvsteer needs an instruction-tuned (chat) model');
    }
    return this.tok.apply_chat_template(messages, { tokenize: false, add_generation_prompt: addGenerationPrompt }) as string;
  }

  /** Token ids of `text`, special-token strings parsed, nothing added (as the paper's evaluation). */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false });
  }

  decode(ids: number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.tok.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }
}
