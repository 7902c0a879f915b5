/**
 * VQAScore: P("Yes") that a vision chat model answers yes to
 *   Does this figure show "{prompt}"? Please answer yes or no.
 * read from the first answer token's top logprobs, over any OpenAI-compatible endpoint (OpenAI,
 * vLLM, Ollama). Configured by LOOP_VQA_MODEL / LOOP_VQA_BASE_URL / LOOP_VQA_API_KEY, falling back
 * to OPENAI_BASE_URL / OPENAI_API_KEY. Unconfigured → unavailable with the reason.
 */
import type { Env } from '../../config/env.js';
import { toScale, type AnchorRange } from '../anchors.js';
import type { MetricResult } from '../types.js';
import { tokenCost } from '../../config/prices.js';
import { redact } from '../../lib/secrets.js';

export interface VqaConfig {
  model: string;
  baseURL?: string;
  apiKey: string;
  /** Requests in flight at once. */
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
}

export const vqaQuestion = (prompt: string) => `Does this figure show "${prompt}"? Please answer yes or no.`;

export function vqaConfigFromEnv(env: Env): VqaConfig | { unavailable: string } {
  if (!env.LOOP_VQA_MODEL) return { unavailable: 'LOOP_VQA_MODEL is not set (VQAScore needs a vision chat model that returns logprobs)' };
  const baseURL = env.LOOP_VQA_BASE_URL ?? env.OPENAI_BASE_URL;
  const apiKey = env.LOOP_VQA_API_KEY ?? env.OPENAI_API_KEY;
  // a local server (vLLM, Ollama) may need no key; api.openai.com does
  if (!apiKey && !baseURL) return { unavailable: 'no API key for VQAScore (set LOOP_VQA_API_KEY or OPENAI_API_KEY, or LOOP_VQA_BASE_URL for a local server)' };
  return { model: env.LOOP_VQA_MODEL, baseURL, apiKey: apiKey ?? 'none', concurrency: 4, timeoutMs: 60_000, maxRetries: 2 };
}

/** P(yes) from the top logprobs of the first token; tokens compare trimmed and case-folded. */
export function pYes(top: { token: string; logprob: number }[]): { yes: number; no: number } {
  let yes = 0, no = 0;
  for (const t of top) {
    const w = t.token.trim().toLowerCase();
    if (w === 'yes') yes += Math.exp(t.logprob);
    else if (w === 'no') no += Math.exp(t.logprob);
  }
  return { yes: Math.min(1, yes), no: Math.min(1, no) };
}

export interface VqaImage {
  /** Encoded image, already downsized for the request. */
  dataUrl: string;
}

/** Encode an image as a PNG data URL, downsized to at most 1024 px on the long side. */
export async function toDataUrl(bytes: Uint8Array): Promise<string> {
  const sharp = (await import('sharp')).default;
  const png = await sharp(bytes, { failOn: 'error' }).resize(1024, 1024, { fit: 'inside', withoutEnlargement: true }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** One VQA endpoint: a client made once, at most `cfg.concurrency` requests in flight however many callers share it. */
export interface VqaAsker {
  readonly model: string;
  /** P(yes) for one image (a data URL) and prompt; a failure is an unavailable result with the reason, never a throw. */
  ask(dataUrl: string, prompt: string, anchors: AnchorRange, signal?: AbortSignal): Promise<MetricResult>;
}

export function createVqaAsker(cfg: VqaConfig): VqaAsker {
  let clientP: Promise<import('openai').default> | undefined;
  const client = () => (clientP ??= import('openai').then(({ default: OpenAI }) => new OpenAI({ apiKey: cfg.apiKey, baseURL: cfg.baseURL, maxRetries: cfg.maxRetries, timeout: cfg.timeoutMs })));
  // a counting semaphore: the limit holds across every video and image that shares this asker
  let active = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    while (active >= Math.max(1, cfg.concurrency)) await new Promise<void>((r) => waiting.push(r));
    active++;
  };
  const release = () => {
    active--;
    waiting.shift()?.();
  };

  async function ask(dataUrl: string, prompt: string, anchors: AnchorRange, signal?: AbortSignal): Promise<MetricResult> {
    const question = vqaQuestion(prompt);
    await acquire();
    try {
      const res = await (await client()).chat.completions.create(
        {
          model: cfg.model,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'image_url', image_url: { url: dataUrl } },
                { type: 'text', text: question },
              ],
            },
          ],
          max_tokens: 1,
          temperature: 0,
          logprobs: true,
          top_logprobs: 20,
        },
        { signal },
      );
      const first = res.choices[0]?.logprobs?.content?.[0];
      if (!first) return { available: false, reason: `${cfg.model} returned no logprobs (the endpoint must support logprobs/top_logprobs)` };
      const top = first.top_logprobs?.length ? first.top_logprobs : [{ token: first.token, logprob: first.logprob }];
      const p = pYes(top);
      return {
        available: true,
        raw: p.yes,
        ...toScale(p.yes, anchors),
        model_id: cfg.model,
        file_hashes: {},
        // every paid call is costed, like the agents' calls (null when the model has no price)
        detail: {
          p_no: p.no,
          first_token: first.token,
          question,
          input_tokens: res.usage?.prompt_tokens ?? 0,
          output_tokens: res.usage?.completion_tokens ?? 0,
          cost_usd: tokenCost(cfg.model, res.usage?.prompt_tokens ?? 0, res.usage?.completion_tokens ?? 0) ?? null,
        },
      };
    } catch (e) {
      if (signal?.aborted) throw e; // cancelled: the caller's job stops, nothing to record
      const status = (e as { status?: number }).status;
      // provider error text can echo what it was sent: redact before it reaches a trace
      return { available: false, reason: redact(`VQAScore request failed${status ? ` (HTTP ${status})` : ''}: ${String((e as Error).message ?? e).split('\n')[0]}`) };
    } finally {
      release();
    }
  }
  return { model: cfg.model, ask };
}

export async function vqaScores(cfg: VqaConfig | VqaAsker, images: VqaImage[], prompt: string, anchors: AnchorRange): Promise<MetricResult[]> {
  const asker = 'ask' in cfg ? cfg : createVqaAsker(cfg);
  return Promise.all(images.map((img) => asker.ask(img.dataUrl, prompt, anchors)));
}
