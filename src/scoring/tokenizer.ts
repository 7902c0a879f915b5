/**
 * CLIP tokenisation from a model's tokenizer.json via @huggingface/tokenizers, with CLIP's fixed
 * context: at most 77 tokens, truncated so the end-of-text token survives (the text tower pools
 * at that token), padded to 77, and the truncation recorded.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CLIP_CONTEXT = 77;

export interface TokenizedPrompt {
  ids: number[]; // length = context
  attentionMask: number[];
  /** Real tokens, including start and end tokens. */
  length: number;
  truncated: boolean;
}

export interface ClipTokenizer {
  context: number;
  encode(text: string): TokenizedPrompt;
}

export async function loadClipTokenizer(dir: string, context = CLIP_CONTEXT): Promise<ClipTokenizer> {
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const cfgPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(cfgPath) ? (JSON.parse(await readFile(cfgPath, 'utf8')) as Record<string, unknown>) : {};
  const tok = new Tokenizer(json, config);
  const padding = json.padding as { pad_id?: number } | null | undefined;
  const tokenName = (v: unknown) => (typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content);
  const padName = tokenName(config.pad_token);
  const padFromConfig = padName !== undefined ? tok.token_to_id(padName) : undefined;
  return {
    context,
    encode(text: string): TokenizedPrompt {
      let ids = tok.encode(text).ids;
      const end = ids[ids.length - 1]!;
      let truncated = false;
      if (ids.length > context) {
        ids = [...ids.slice(0, context - 1), end];
        truncated = true;
      }
      const length = ids.length;
      // Pad with the model's pad token (CLIP's own is the end token): the causal text tower
      // never lets the padding reach the end-token position it pools from.
      const pad = padding?.pad_id ?? padFromConfig ?? end;
      const padded = [...ids, ...new Array<number>(context - length).fill(pad)];
      const mask = [...new Array<number>(length).fill(1), ...new Array<number>(context - length).fill(0)];
      return { ids: padded, attentionMask: mask, length, truncated };
    },
  };
}
