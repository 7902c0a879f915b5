import type { CreativeAgent } from './loop.js';
import type { Critique } from './types.js';

/**
 * A reviewer's feedback ("warmer light, less clutter") folded into the next round's prompt through
 * the creative agent, not pasted onto it. The LLM cinematographer reads the feedback as one more
 * critique line and rewrites; the offline one applies the rules below to its own rendering and
 * says which parts of the feedback it has no rule for (they stay out of the prompt).
 */

const SHOTS = ['An extreme close-up', 'A close-up', 'A medium close-up', 'A medium shot', 'A medium wide shot', 'A wide shot'] as const;
const SHOT_RE = /\b(An extreme close-up|A close-up|A medium close-up|A medium shot|A medium wide shot|A wide shot)\b/;
const KELVIN_RE = /\b(warm|neutral|cool) at about \d{4}K\b/;

interface Rule {
  re: RegExp;
  apply(prompt: string): { prompt: string; note: string };
}

/** Put a sentence before the closing aspect-ratio sentence (it stays last, as renderPrompt has it). */
function addSentence(prompt: string, sentence: string): string {
  if (prompt.includes(sentence)) return prompt;
  const i = prompt.lastIndexOf(' Framed for a ');
  return i < 0 ? `${prompt} ${sentence}` : `${prompt.slice(0, i)} ${sentence}${prompt.slice(i)}`;
}

function setKelvin(prompt: string, word: 'warm' | 'cool', k: number, why: string) {
  const next = KELVIN_RE.test(prompt) ? prompt.replace(KELVIN_RE, `${word} at about ${k}K`) : addSentence(prompt, `The light is ${word}, about ${k}K.`);
  return { prompt: next, note: `${why}: colour temperature to ${word}, about ${k}K` };
}

function stepShot(prompt: string, by: -1 | 1, why: string) {
  const m = SHOT_RE.exec(prompt);
  if (!m) return { prompt: addSentence(prompt, by < 0 ? 'Framed tighter on the subject.' : 'Framed wider, with more of the setting.'), note: `${why}: framing` };
  const i = SHOTS.indexOf(m[1] as (typeof SHOTS)[number]);
  const next = SHOTS[Math.max(0, Math.min(SHOTS.length - 1, i + by))]!;
  return { prompt: prompt.replace(SHOT_RE, next), note: `${why}: ${m[1]!.replace(/^an? /i, '')} → ${next.replace(/^an? /i, '')}` };
}

const RULES: Rule[] = [
  { re: /\bwarm(er)?\b|\bgolden\b/i, apply: (p) => setKelvin(p, 'warm', 3200, 'warmer light') },
  { re: /\bcool(er)?\b|\bcold(er)?\b|\bbluer\b/i, apply: (p) => setKelvin(p, 'cool', 6500, 'cooler light') },
  {
    re: /\b(less|no|without) clutter\b|\buncluttered\b|\bclean(er)?\b|\bminimal(ist)?\b|\bsimpler\b|\bdeclutter\b/i,
    apply: (p) => ({ prompt: addSentence(p, 'The background is clean and uncluttered, with negative space around the subject.'), note: 'less clutter: a clean background with negative space' }),
  },
  { re: /\bbright(er)?\b|\bhigh[- ]key\b|\blighter\b/i, apply: (p) => ({ prompt: addSentence(p, 'A bright, high-key exposure with open shadows.'), note: 'brighter: high-key exposure' }) },
  { re: /\bdark(er)?\b|\bmood(ier)?\b|\blow[- ]key\b/i, apply: (p) => ({ prompt: addSentence(p, 'A darker, low-key exposure with deep shadows.'), note: 'darker: low-key exposure' }) },
  { re: /\bmore contrast\b|\bpunch(y|ier)\b|\bcontrast(y|ier)\b/i, apply: (p) => ({ prompt: addSentence(p, 'A punchy, high-contrast grade.'), note: 'more contrast: high-contrast grade' }) },
  { re: /\bless contrast\b|\bsofter\b|\bflatter\b/i, apply: (p) => ({ prompt: addSentence(p, 'A soft, low-contrast grade.'), note: 'softer: low-contrast grade' }) },
  { re: /\bcloser\b|\btighter\b|\bzoom(ed)? in\b/i, apply: (p) => stepShot(p, -1, 'closer') },
  { re: /\bwider\b|\bpull(ed)? back\b|\bzoom(ed)? out\b|\bmore of the (scene|setting|room)\b/i, apply: (p) => stepShot(p, 1, 'wider') },
];

// ---- motion prompts (the video review) ----------------------------------------------------

// the storyboard vocabulary's speeds (slow, medium, fast), with a step beyond each end
const SPEEDS = ['very slow', 'slow', 'medium', 'fast', 'very fast'] as const;
const SPEED_RE = /\bone (very slow|slow|medium|fast|very fast) /;

function stepSpeed(prompt: string, by: -1 | 1, why: string) {
  const m = SPEED_RE.exec(prompt);
  if (!m) return { prompt: addSentence(prompt, by < 0 ? 'Everything moves more slowly and calmly.' : 'The move is quicker and more energetic.'), note: `${why}: pace` };
  const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, SPEEDS.indexOf(m[1] as (typeof SPEEDS)[number]) + by))]!;
  return { prompt: prompt.replace(SPEED_RE, `one ${next} `), note: `${why}: camera move ${m[1]} → ${next}` };
}

const MOTION_RULES: Rule[] = [
  { re: /\bslow(er)?\b|\bcalm(er)?\b|\bgentler\b|\bless rushed\b/i, apply: (p) => stepSpeed(p, -1, 'slower') },
  { re: /\bfast(er)?\b|\bquick(er)?\b|\bsnappier\b|\bpacier\b/i, apply: (p) => stepSpeed(p, 1, 'faster') },
  {
    re: /\bsmooth(er)?\b|\bsteadi(er)?\b|\bsteady\b|\b(less|no) (shake|shaking|jitter|wobble)\b|\bstabl(e|er)\b/i,
    apply: (p) => ({ prompt: addSentence(p, 'The camera glides without shake or jitter, every change of speed eased in and out.'), note: 'smoother: a steady camera, eased speed changes' }),
  },
  { re: /\b(less|subtler|subtle|restrained) (motion|movement)\b|\bstiller\b/i, apply: (p) => ({ prompt: addSentence(p, "The subject's motion is subtle and restrained."), note: 'less motion: subtle, restrained action' }) },
  { re: /\bmore (motion|movement|action|energy)\b|\blivel(y|ier)\b|\bmore dynamic\b/i, apply: (p) => ({ prompt: addSentence(p, 'The subject moves with more energy and a clear sense of momentum.'), note: 'more motion: livelier action' }) },
];

/** The offline director's reading of review feedback on videos, like applyFeedback for images. */
export function applyMotionFeedback(prompt: string, feedback: string): { prompt: string; notes: string[] } {
  return applyRules(MOTION_RULES, prompt, feedback);
}

/** The offline agent's reading of feedback: each clause that matched a rule, applied to the prompt; the rest named. */
export function applyFeedback(prompt: string, feedback: string): { prompt: string; notes: string[] } {
  return applyRules(RULES, prompt, feedback);
}

function applyRules(rules: Rule[], prompt: string, feedback: string): { prompt: string; notes: string[] } {
  const clauses = feedback
    .split(/[,;.\n]|\band\b|\bbut\b/i)
    .map((c) => c.trim())
    .filter(Boolean);
  const notes: string[] = [];
  let out = prompt;
  for (const clause of clauses) {
    const hits = rules.filter((r) => r.re.test(clause));
    if (!hits.length) {
      notes.push(`feedback "${clause}": the offline agent has no rule for it, so it is not in the prompt (the LLM agents take free-form feedback: --agent-backend openai)`);
      continue;
    }
    for (const r of hits) {
      const x = r.apply(out);
      out = x.prompt;
      notes.push(`feedback "${clause}": ${x.note}`);
    }
  }
  return { prompt: out, notes };
}

/**
 * The creative agent of a revision round: the run's own agent with the reviewer's feedback. An LLM
 * agent gets it as the first critique line (and in round 1, where there is no critique yet, with
 * the prompt it revises as its previous draft); the offline agent applies applyFeedback to what it
 * writes.
 */
export function withFeedback<C extends { feedback: string[] } = Critique>(
  agent: CreativeAgent<C>,
  feedback: string,
  o: { offline: boolean; revising: string; what?: 'images' | 'videos'; apply?: typeof applyFeedback; feedbackOnly?: (line: string) => C },
): CreativeAgent<C> {
  const apply = o.apply ?? applyFeedback;
  const only = o.feedbackOnly ?? (feedbackOnlyCritique as unknown as (line: string) => C);
  const line = `Reviewer feedback on the ${o.what ?? 'images'} this prompt made; apply it: ${feedback}`;
  return {
    name: `${agent.name}+review-feedback`,
    async create(input) {
      if (o.offline) {
        const turn = await agent.create(input);
        const r = apply(turn.output, feedback);
        return { ...turn, output: r.prompt, notes: [...(turn.notes ?? []), ...r.notes] };
      }
      const critique: C | null = input.critique ? { ...input.critique, feedback: [line, ...input.critique.feedback] } : null;
      const first = input.previous === null;
      return agent.create({ ...input, previous: first ? o.revising : input.previous, critique: critique ?? (first ? only(line) : null) });
    },
  };
}

/** Round 1 of an LLM revision: a critique that is only the reviewer's feedback. */
function feedbackOnlyCritique(line: string): Critique {
  return { scores: { completeness: 0, specificity: 0, professionalism: 0, cinematography: 0, brand_alignment: null, overall: 0 }, feedback: [line], flags: [] };
}
